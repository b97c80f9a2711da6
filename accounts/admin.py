"""The admin site signs staff in through the same throttled form as the app."""

from django.contrib import admin

from accounts.forms import ThrottledAdminSignInForm

admin.site.login_form = ThrottledAdminSignInForm
