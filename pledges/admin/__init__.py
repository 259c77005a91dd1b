"""Moderation and the site's content in Django admin, one module per screen family:

- common: the capped paginator, the NUL check, the permission mixins, the action report;
- filters: the sidebar filters; actions: the moderation actions and starting bulk jobs;
- signatures: the signatures, the moderation queue and the log (signature_page: a signature's
  buttons and Verify page; signature_export: the CSV export; triage: why a row waits);
- jobs: submissions and bulk jobs; letter: the letter, its translations, the signing switch,
  the about page, guilds and professions; updates: updates to signers; watchlist: watched names;
- dashboard: the figures on the admin index.

Importing each module here registers its ModelAdmins (admin.autodiscover imports this package).
"""

from django.contrib import admin

from pledges.admin import dashboard, jobs, letter, signatures, updates, watchlist  # noqa: F401

admin.site.site_header = "Creators Coalition on AI: staff"
admin.site.site_title = "CCAI staff"
