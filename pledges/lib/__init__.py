"""Pure helpers: no models, no requests. Names, the watchlist's folding, mailboxes, mail domains,
Markdown, graphics, CSV lines and the IP hash."""
