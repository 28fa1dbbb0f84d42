"""The worker: a supervisor that claims jobs and runs each in a child process."""
