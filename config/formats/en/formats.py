"""English dates as the rest of the world writes them, like the French and German pages do:
"7 January 2027", not Django's US default "Jan. 7, 2027"."""

from __future__ import annotations

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
