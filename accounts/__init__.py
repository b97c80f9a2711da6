"""Users, workspaces and memberships; workspace secrets and connection accounts, encrypted at
rest (``accounts.crypto``) and put to work by ``accounts.connections``."""
