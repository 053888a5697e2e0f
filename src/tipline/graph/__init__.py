"""The entity graph: networks of reports that share identifiers, the over-correlation guard, cases."""
