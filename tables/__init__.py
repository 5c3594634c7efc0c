"""Table rows and the pure interview state machine; Faust table definitions in tables.faust_tables."""
