"""Getting report bytes: files, directories and Maildir (files, watch), IMAP (imap), SMTP receiver (smtp)."""
