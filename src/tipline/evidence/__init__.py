"""Evidence beyond reports: source items that are not reports (an ad, a payment, a partner's record)."""
