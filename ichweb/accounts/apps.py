from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ichweb.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"
