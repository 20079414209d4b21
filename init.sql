BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE users (
    id UUID NOT NULL, 
    first_name VARCHAR(100) NOT NULL, 
    last_name VARCHAR(100) NOT NULL, 
    email VARCHAR(255) NOT NULL, 
    username VARCHAR(50) NOT NULL, 
    is_active BOOLEAN NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    version INTEGER NOT NULL, 
    CONSTRAINT pk_users PRIMARY KEY (id), 
    CONSTRAINT uq_users_email UNIQUE (email), 
    CONSTRAINT uq_users_username UNIQUE (username)
);

CREATE TABLE posts (
    id UUID NOT NULL, 
    author_id UUID NOT NULL, 
    title VARCHAR(200) NOT NULL, 
    content TEXT NOT NULL, 
    published BOOLEAN NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    version INTEGER NOT NULL, 
    CONSTRAINT pk_posts PRIMARY KEY (id), 
    CONSTRAINT fk_posts_author_id_users FOREIGN KEY(author_id) REFERENCES users (id)
);

CREATE INDEX ix_posts_author_id ON posts (author_id);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

CREATE TABLE outbox (
    id UUID NOT NULL, 
    aggregate_type VARCHAR(100) NOT NULL, 
    aggregate_id VARCHAR(100) NOT NULL, 
    event_type VARCHAR(100) NOT NULL, 
    payload JSON NOT NULL, 
    traceparent VARCHAR(55), 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    attempts INTEGER NOT NULL, 
    available_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    state VARCHAR(10) NOT NULL, 
    last_error TEXT, 
    delivered_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_outbox PRIMARY KEY (id)
);

CREATE INDEX ix_outbox_aggregate ON outbox (aggregate_type, aggregate_id, state);

CREATE INDEX ix_outbox_state_available_at ON outbox (state, available_at);

CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('fbb_outbox', ''); RETURN NULL; END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

CREATE TABLE idempotency_keys (
    key VARCHAR(255) NOT NULL, 
    fingerprint VARCHAR(64) NOT NULL, 
    state VARCHAR(10) NOT NULL, 
    owner VARCHAR(32), 
    status INTEGER, 
    body JSON, 
    headers JSON, 
    locked_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (key)
);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

CREATE INDEX ix_outbox_state_id ON outbox (state, id);

DROP INDEX ix_outbox_state_available_at;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

COMMIT;

