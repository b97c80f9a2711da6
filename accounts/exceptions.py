"""Named errors of the accounts domain; each message is shown to the user as it is."""

from __future__ import annotations


class AccountsError(Exception):
    """Base of the errors a user can act on."""


class SignUpClosed(AccountsError):
    def __init__(self) -> None:
        super().__init__("Sign-up is closed on this server. Ask a workspace owner to invite you.")


class SignInLocked(AccountsError):
    """Too many failed sign-ins for a username or from an address; says when to try again."""

    def __init__(self, *, minutes: int) -> None:
        self.minutes = minutes
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many failed sign-ins; try again in {minutes} {unit}.")


class SignInUnavailable(AccountsError):
    """The sign-in counters (the cache, Redis when configured) cannot be reached."""

    def __init__(self) -> None:
        super().__init__(
            "Signing in is unavailable for a moment: the server cannot reach its cache. "
            "Try again in a minute; if it lasts, tell the server's administrator."
        )


class InvalidInvitee(AccountsError):
    def __init__(self) -> None:
        super().__init__("Enter a username or an email address, e.g. ada or ada@example.com.")


class InvitationNotFound(AccountsError):
    def __init__(self) -> None:
        super().__init__(
            "This invitation is no longer open: it was answered, withdrawn or has expired."
        )


class AlreadyMember(AccountsError):
    def __init__(self, username: str) -> None:
        super().__init__(f"{username} is already a member of this workspace.")


class NotOwner(AccountsError):
    def __init__(self) -> None:
        super().__init__("Only workspace owners can do that.")


class LastOwner(AccountsError):
    def __init__(self) -> None:
        super().__init__("A workspace needs at least one owner; make someone else owner first.")


class DecryptionError(AccountsError):
    """A stored credential cannot be decrypted; the message says why, never what it holds."""

    def __init__(self, detail: str, *, subject: str = "A stored value") -> None:
        self.detail = detail
        self.subject = subject
        super().__init__(f"{subject} cannot be decrypted. {detail}")

    def about(self, subject: str) -> DecryptionError:
        """The same error, naming what could not be decrypted."""
        return DecryptionError(self.detail, subject=subject)


class InvalidSecretName(AccountsError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"“{name[:100]}” is not a valid secret name: use letters, digits and underscores, "
            "not starting with a digit (e.g. HUNTER_API_KEY)."
        )


class SecretNameTaken(AccountsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"A secret named {name} already exists; replace its value instead.")


class SecretValueMissing(AccountsError):
    def __init__(self) -> None:
        super().__init__("Give the secret a value.")


class SecretNotFound(AccountsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"This workspace has no secret named {name}.")


class AccountNotFound(AccountsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"This workspace has no account named “{name}”.")


class InvalidAccountConfig(AccountsError):
    """The auth type's validation failed; ``field_errors`` maps a field name ("" for the whole
    account) to its messages, as the ``connectors`` schema wrote them."""

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        self.field_errors = field_errors
        lines = [
            f"{field}: {message}" if field else message
            for field, messages in field_errors.items()
            for message in messages
        ]
        super().__init__("; ".join(lines))


class AccountNameTaken(InvalidAccountConfig):
    def __init__(self, name: str) -> None:
        super().__init__({"name": [f"An account named “{name}” already exists in this workspace."]})


class AccountInUse(AccountsError):
    def __init__(self, account_name: str, uses: list[str]) -> None:
        self.uses = uses
        shown = ", ".join(uses[:10]) + (f" and {len(uses) - 10} more" if len(uses) > 10 else "")
        super().__init__(
            f"“{account_name}” is used by {len(uses)} column{'s' if len(uses) != 1 else ''} "
            f"({shown}). Pick another account in those columns or delete them first."
        )


class KeyPairNotSupported(AccountsError):
    def __init__(self, auth_type: str) -> None:
        super().__init__(
            f"Key pairs are for the signed-JWT types (jwt, oauth_jwt_bearer), not {auth_type}."
        )
