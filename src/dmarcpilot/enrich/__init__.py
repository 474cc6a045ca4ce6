"""Facts about senders from offline data: IP -> country / ASN / network owner, org domains."""
