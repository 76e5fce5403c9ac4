CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    membership_level TEXT NOT NULL,
    created_at TEXT NOT NULL
);
