"""What defines the bytes: decoding and validating events, encoding records, rules files."""
