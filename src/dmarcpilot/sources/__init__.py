"""Getting report bytes: files, directories, Maildir (IMAP and SMTP later)."""
