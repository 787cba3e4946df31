"""Property-based fuzzing (hypothesis) of every body parser, against the app in process: no
answer is a 5xx, every error has its API's shape, and a valid body gets a 200."""
