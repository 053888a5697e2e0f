"""What every web front end uses, outside the app factory: page helpers (``kit``) and request dependencies
(``deps``). The app (``tipline.web``) and every capability's web modules import it; it imports no capability
but accounts (the callers' identities), so no import cycle goes through it."""
