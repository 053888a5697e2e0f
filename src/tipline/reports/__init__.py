"""Reports as staff see them: the queue, a report with its entities and reasons, entity pages,
search, and the analyst's actions (status, classification, notes, messages to the reporter)."""
