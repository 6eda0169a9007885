"""Key files, pseudonyms and sealing of personal data (DESIGN §1, personal data; §3 ``crypto/``)."""
