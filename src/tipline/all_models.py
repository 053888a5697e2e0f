"""Import every capability's models so that ``Base.metadata`` knows all tables (used by tools that walk
the whole schema: key rotation, retention, backups). Add a capability's models module here."""

from tipline.finance import models as finance_models  # noqa: F401
from tipline.graph import models as graph_models  # noqa: F401
from tipline.media import models as media_models  # noqa: F401
from tipline.routing import models as routing_models  # noqa: F401
from tipline.store import models  # noqa: F401
