"""newsbeam stages: one module per stage, plus record types and schemas."""
