-- A small application dump for the examples: plain SQL that SQLite and MySQL both load.
CREATE TABLE users(id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL);
CREATE TABLE notes(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT NOT NULL);
INSERT INTO users VALUES (1, 'ada@example.com', 'Ada'), (2, 'grace@example.com', 'Grace'), (3, 'edsger@example.com', 'Edsger');
INSERT INTO notes VALUES (1, 1, 'the engine can compute more than numbers'), (2, 2, 'it is easier to ask forgiveness'), (3, 3, 'simplicity is prerequisite for reliability');
