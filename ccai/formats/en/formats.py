# English dates as the coalition writes them ("21 November 2026"), not Django's American default;
# the other languages keep Django's own formats.
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
