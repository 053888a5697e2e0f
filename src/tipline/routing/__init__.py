"""Routing and referral: agency directory, jurisdiction, referral packages, sharing, takedown, statistics."""
