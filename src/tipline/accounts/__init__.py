"""Accounts: staff users and roles, staff API tokens and login sessions, platform API keys, audit events."""
