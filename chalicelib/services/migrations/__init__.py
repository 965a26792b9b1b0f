"""One-off data migrations: each module says what it repairs, how it is run, and why re-running it
changes nothing."""
