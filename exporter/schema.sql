-- One clinic database file (docs/CLINIC_DB.md). A clinic may keep several such files.
-- The exporter only ever opens this file read-only; the clinic program (or the demo
-- generator) writes it. Dates are 'YYYY-MM-DD' text, times 'HH:MM', timestamps ISO 8601
-- text. Every table carries modified_at so the clinic program can stamp edits; the exporter
-- does not trust it for change detection (it hashes the rows, see docs/CLINIC_DB.md).

CREATE TABLE IF NOT EXISTS patients (
    id          INTEGER PRIMARY KEY,
    -- no UNIQUE: clinic programs do produce duplicates; the reader reports and skips them
    card        TEXT NOT NULL,
    first_name  TEXT,
    surname     TEXT,
    birth_date  TEXT,               -- 'YYYY-MM-DD'
    gender      TEXT,               -- 'M', 'F' or NULL
    mobile      TEXT,
    phone       TEXT,
    address     TEXT,
    email       TEXT,
    occupation  TEXT,
    notes       TEXT,
    modified_at TEXT                -- ISO 8601
);

CREATE TABLE IF NOT EXISTS health (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients(id),
    kind        TEXT NOT NULL,      -- 'condition' | 'medication' | 'allergy'
    name        TEXT NOT NULL,
    detail      TEXT,
    modified_at TEXT
);

CREATE TABLE IF NOT EXISTS deals (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients(id),
    title       TEXT,
    total       REAL NOT NULL DEFAULT 0,
    deduction   REAL NOT NULL DEFAULT 0,
    tax         REAL NOT NULL DEFAULT 0,
    paid        REAL NOT NULL DEFAULT 0,
    start_date  TEXT,               -- 'YYYY-MM-DD'
    expired     INTEGER NOT NULL DEFAULT 0,  -- 0/1
    modified_at TEXT
);

CREATE TABLE IF NOT EXISTS visits (
    id                INTEGER PRIMARY KEY,
    patient_id        INTEGER NOT NULL REFERENCES patients(id),
    date              TEXT NOT NULL,    -- 'YYYY-MM-DD'
    paid              REAL NOT NULL DEFAULT 0,
    action            TEXT,
    notes             TEXT,
    next_date         TEXT,             -- 'YYYY-MM-DD', the follow-up the doctor asked for
    next_duration_min INTEGER,
    modified_at       TEXT
);

CREATE TABLE IF NOT EXISTS appointments (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER NOT NULL REFERENCES patients(id),
    date         TEXT NOT NULL,     -- 'YYYY-MM-DD'
    time         TEXT,              -- 'HH:MM'
    duration_min INTEGER,
    reason       TEXT,
    modified_at  TEXT
);

-- Notes viewers left on the site, pulled in by `chartseal notes fetch`. The exporter never
-- reads this table into the site; note_id makes fetching idempotent.
CREATE TABLE IF NOT EXISTS server_notes (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER REFERENCES patients(id),
    card        TEXT,
    author      TEXT,
    text        TEXT NOT NULL,
    created_at  TEXT,               -- ISO 8601, when the viewer wrote it
    fetched_at  TEXT,               -- ISO 8601, when the clinic pulled it in
    read        INTEGER NOT NULL DEFAULT 0,  -- 0/1
    note_id     TEXT UNIQUE
);

CREATE INDEX IF NOT EXISTS health_patient ON health(patient_id);
CREATE INDEX IF NOT EXISTS deals_patient ON deals(patient_id);
CREATE INDEX IF NOT EXISTS visits_patient ON visits(patient_id);
CREATE INDEX IF NOT EXISTS visits_date ON visits(date);
CREATE INDEX IF NOT EXISTS appointments_patient ON appointments(patient_id);
CREATE INDEX IF NOT EXISTS appointments_date ON appointments(date);
CREATE INDEX IF NOT EXISTS server_notes_patient ON server_notes(patient_id);
