"""Versioned schema. Append a new entry to change the schema; never edit an applied one.

Times: ``accepted_at`` is EDGAR's acceptance time as UTC ISO text (``2021-11-10T22:14:05Z``), NULL when
unknown. ``transaction_date`` is the trade's date. Queries say which of the two they select on.
Amounts: ``value_cents`` is computed once at ingest by ``bot.rules.value_cents``.
"""

MIGRATIONS: list[str] = [
    # 1: filings, owners, rows, tickers, quarantine
    """
    CREATE TABLE issuers (
        cik INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        ticker TEXT                      -- current ticker (newest filing or SEC's map)
    );
    CREATE TABLE issuer_tickers (
        ticker TEXT NOT NULL,
        cik INTEGER NOT NULL,
        source TEXT NOT NULL,            -- 'filing' or 'sec'
        last_seen TEXT,                  -- newest period/filing date it was seen on
        PRIMARY KEY (ticker, cik)
    );
    CREATE TABLE ticker_map (           -- SEC's company_tickers.json: issuers not yet in the store too
        ticker TEXT PRIMARY KEY,
        cik INTEGER NOT NULL,
        name TEXT NOT NULL
    );
    CREATE INDEX ticker_map_cik ON ticker_map(cik);
    CREATE TABLE insiders (
        cik INTEGER PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE filings (
        accession TEXT PRIMARY KEY,
        accession_known INTEGER NOT NULL,
        issuer_cik INTEGER NOT NULL REFERENCES issuers(cik),
        document_type TEXT NOT NULL,
        group_key TEXT NOT NULL,         -- sorted owner CIKs: one filer group per filing
        accepted_at TEXT,
        filed_date TEXT,
        period_of_report TEXT,
        date_of_original_submission TEXT,
        aff10b5one INTEGER,              -- 1, 0 or NULL (box absent: unknown)
        schema_version TEXT,
        remarks TEXT,
        ticker TEXT,
        source TEXT,
        superseded_by TEXT,              -- accession of the 4/A that replaces this filing
        superseded_at TEXT               -- when that 4/A was accepted ('0000' if unknown)
    );
    CREATE INDEX filings_issuer ON filings(issuer_cik, filed_date);
    CREATE INDEX filings_accepted ON filings(accepted_at);
    CREATE TABLE filing_owners (
        accession TEXT NOT NULL REFERENCES filings(accession) ON DELETE CASCADE,
        owner_cik INTEGER NOT NULL,
        name TEXT NOT NULL,
        is_director INTEGER NOT NULL,
        is_officer INTEGER NOT NULL,
        is_ten_percent_owner INTEGER NOT NULL,
        is_other INTEGER NOT NULL,
        officer_title TEXT,
        other_text TEXT,
        PRIMARY KEY (accession, owner_cik)
    );
    CREATE INDEX filing_owners_owner ON filing_owners(owner_cik);
    CREATE TABLE transactions (
        id INTEGER PRIMARY KEY,
        accession TEXT NOT NULL REFERENCES filings(accession) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        issuer_cik INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        accepted_at TEXT,                -- copied from the filing so point-in-time filters need no join
        superseded_at TEXT,              -- copied from the filing; NULL while not superseded
        is_derivative INTEGER NOT NULL,
        security_title TEXT NOT NULL,
        transaction_date TEXT,
        deemed_execution_date TEXT,
        code TEXT NOT NULL,
        acquired_disposed TEXT,
        shares REAL,
        price REAL,
        value_cents INTEGER,
        shares_owned_after REAL,
        direct_indirect TEXT,
        ownership_nature TEXT,
        plan_flag INTEGER,               -- 1 plan (checkbox or footnote), 0 box unticked, NULL unknown
        plan_adoption_date TEXT,
        sell_to_cover INTEGER NOT NULL DEFAULT 0,
        private_from_issuer INTEGER NOT NULL DEFAULT 0,
        weighted_average_price INTEGER NOT NULL DEFAULT 0,
        footnotes TEXT,
        underlying_title TEXT,
        underlying_shares REAL,
        exercise_price REAL,
        UNIQUE (accession, is_derivative, seq)
    );
    CREATE INDEX transactions_issuer_day ON transactions(issuer_cik, transaction_date);
    CREATE INDEX transactions_group ON transactions(group_key, issuer_cik);
    -- Covering partial index for rankings: only open-market rows, every column the ranking reads.
    CREATE INDEX transactions_flow ON transactions(
        transaction_date, issuer_cik, code, value_cents, shares, group_key, accepted_at, superseded_at
    ) WHERE code IN ('P', 'S') AND is_derivative = 0;
    CREATE TABLE holdings (
        accession TEXT NOT NULL REFERENCES filings(accession) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        issuer_cik INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        is_derivative INTEGER NOT NULL,
        security_title TEXT NOT NULL,
        shares_owned REAL,
        direct_indirect TEXT,
        ownership_nature TEXT,
        PRIMARY KEY (accession, is_derivative, seq)
    );
    CREATE INDEX holdings_group ON holdings(group_key, issuer_cik);
    CREATE TABLE filing_index (
        accession TEXT PRIMARY KEY,      -- what EDGAR's indexes say about a filing (times, form, path)
        cik INTEGER,
        form TEXT,
        filed_date TEXT,
        accepted_at TEXT,
        primary_document TEXT
    );
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        content_sha256 TEXT,
        at TEXT NOT NULL,
        UNIQUE (source, content_sha256)
    );
    """,
]

MIGRATIONS.append(
    # 2: what each Discord server keeps: its shared watchlist and its alert settings
    """
    CREATE TABLE guild_watchlist (
        guild_id INTEGER NOT NULL,
        ticker TEXT NOT NULL,
        issuer_cik INTEGER NOT NULL,
        added_by INTEGER NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (guild_id, issuer_cik)
    );
    CREATE INDEX guild_watchlist_issuer ON guild_watchlist(issuer_cik);
    CREATE TABLE guild_settings (
        guild_id INTEGER PRIMARY KEY,
        editor_role_id INTEGER,
        alert_channel_id INTEGER,
        alert_min_value_cents INTEGER NOT NULL DEFAULT 100000000,
        alert_sensitivity TEXT NOT NULL DEFAULT 'normal',
        alert_purchases INTEGER NOT NULL DEFAULT 1,
        alert_scope TEXT NOT NULL DEFAULT 'watchlist',
        alert_ping_role_id INTEGER,
        alert_daily_cap INTEGER NOT NULL DEFAULT 10,
        alert_digest_hour INTEGER,
        alerts_enabled INTEGER NOT NULL DEFAULT 0,
        alerts_paused_reason TEXT,
        muted_tickers TEXT NOT NULL DEFAULT ''
    );
    """
)

MIGRATIONS.append(
    # 3: open-market flow per filing, day and code: rankings read ~5x fewer rows than the transactions.
    # Per filing (not per issuer-day) so "as of" and the 4/A rule stay exact: every column a point-in-time
    # filter needs is a filing's.
    """
    CREATE TABLE flow_days (
        accession TEXT NOT NULL,
        transaction_date TEXT NOT NULL,
        code TEXT NOT NULL,             -- 'P' or 'S'
        issuer_cik INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        value_cents INTEGER,
        shares REAL NOT NULL,
        accepted_at TEXT,
        superseded_at TEXT,
        PRIMARY KEY (accession, transaction_date, code)
    ) WITHOUT ROWID;
    CREATE INDEX flow_days_by_date ON flow_days(
        transaction_date, issuer_cik, code, value_cents, shares, group_key, accepted_at, superseded_at
    );
    INSERT INTO flow_days
        SELECT accession, transaction_date, code, issuer_cik, group_key, SUM(value_cents), SUM(COALESCE(shares, 0)),
               accepted_at, superseded_at
        FROM transactions WHERE code IN ('P', 'S') AND is_derivative = 0 AND transaction_date IS NOT NULL
        GROUP BY accession, transaction_date, code;
    DROP INDEX transactions_flow;
    """
)

MIGRATIONS.append(
    # 4: the watcher's position and lease
    """
    CREATE TABLE watch_state (          -- one row: where the live watcher is in EDGAR's current feed
        id INTEGER PRIMARY KEY CHECK (id = 1),
        newest_updated TEXT,            -- newest feed <updated> seen (UTC): the next poll reads back to it
        last_accessions TEXT NOT NULL DEFAULT '',  -- Forms 4 listed at that time, comma-separated
        last_poll_at TEXT,              -- the watcher's clock, UTC
        last_ok_at TEXT,
        last_error TEXT,
        last_error_at TEXT
    );
    INSERT INTO watch_state(id) VALUES (1);
    CREATE TABLE watch_lease (          -- who may poll: one holder, renewed every poll, taken over when it lapses
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        renewed_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE watch_pending (        -- Forms 4 listed but not stored yet: retried, then given up (quarantined)
        accession TEXT PRIMARY KEY,
        cik INTEGER NOT NULL,           -- a filer CIK whose folder holds the filing
        form TEXT NOT NULL,
        listed_at TEXT,                 -- the feed's <updated> (UTC); NULL from the daily index
        filed_date TEXT,
        origin TEXT NOT NULL,           -- 'feed' or 'index'
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_try_at TEXT,
        gave_up INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE watch_days (           -- days read from the daily index after downtime
        day TEXT PRIMARY KEY,
        state TEXT NOT NULL,            -- 'pending' or 'done'
        next_try_at TEXT,
        added INTEGER NOT NULL DEFAULT 0,
        note TEXT
    );
    """
)

MIGRATIONS.append(
    # 5: daily prices cache. One coherent fetch per ticker (a refetch replaces every row), so all cached closes
    # of a ticker share one split basis; returns are ratios within it.
    """
    CREATE TABLE price_days (
        ticker TEXT NOT NULL,
        day TEXT NOT NULL,              -- trading day, the exchange's local date
        close REAL NOT NULL,            -- split-adjusted as of price_fetches.fetched_at
        PRIMARY KEY (ticker, day)
    ) WITHOUT ROWID;
    CREATE TABLE price_fetches (        -- per ticker: the span the cached closes answer for, or why there are none
        ticker TEXT PRIMARY KEY,
        first_day TEXT,                 -- span asked of the vendor and answered (NULL when missing)
        last_day TEXT,
        source TEXT NOT NULL,           -- 'yahoo', 'stooq' or 'none'
        fetched_at TEXT NOT NULL,       -- UTC
        missing_reason TEXT             -- set when no vendor knew the ticker (delisted, unknown)
    );
    CREATE TABLE price_splits (         -- split events the vendor reported with the closes
        ticker TEXT NOT NULL,
        day TEXT NOT NULL,
        ratio REAL NOT NULL,            -- new shares per old share
        PRIMARY KEY (ticker, day)
    ) WITHOUT ROWID;
    """
)

MIGRATIONS.append(
    # 6: the alert outbox
    # An alert is recorded (alert_items, unique per server x issuer x filer group x trading day x side) in the
    # same transaction that moves the engine's cursor over `filings`, then posted (alert_messages: one Discord
    # message, its nonce derived from its id) and marked sent with Discord's message id. Times: UTC text as in
    # watch_state (fixed width, compared as text).
    """
    CREATE TABLE alert_state (          -- one row: how far the engine has read, and which process runs it
        id INTEGER PRIMARY KEY CHECK (id = 1),
        filings_cursor INTEGER NOT NULL, -- filings.rowid up to which new filings were scored
        nonce_salt TEXT NOT NULL,        -- per store, so two stores posting to one channel never share a nonce
        lease_owner TEXT,
        lease_expires_at TEXT
    );
    -- Filings already stored when the outbox arrives are history, not news: start after them.
    INSERT INTO alert_state(id, filings_cursor, nonce_salt)
        VALUES (1, (SELECT COALESCE(MAX(rowid), 0) FROM filings), lower(hex(randomblob(3))));
    CREATE TABLE alert_messages (       -- one Discord message: an alert, a wave follow-up, or a digest
        id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,     -- where it went (or goes: the server's alert channel when posted)
        kind TEXT NOT NULL,              -- 'alert', 'wave' (in the thread under parent_id), 'digest'
        issuer_cik INTEGER,
        parent_id INTEGER REFERENCES alert_messages(id),
        digest_day TEXT,                 -- digests: the UTC day; one per server and day
        payload TEXT,                    -- digests: what they show (JSON); alerts render from their items
        state TEXT NOT NULL,             -- 'pending', 'sent', 'failed', 'expired', 'skipped'
        revision INTEGER NOT NULL DEFAULT 1,       -- bumped when an item changes (more filings, a 4/A)
        sent_revision INTEGER NOT NULL DEFAULT 0,  -- what Discord shows; below revision: edit it
        discord_message_id INTEGER,
        thread_id INTEGER,               -- alerts: the thread opened under it for the rest of the wave
        attempts INTEGER NOT NULL DEFAULT 0,
        last_attempt_at TEXT,
        next_try_at TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (guild_id, digest_day)    -- NULLs are distinct: only digests can collide
    );
    CREATE INDEX alert_messages_state ON alert_messages(state, next_try_at);
    CREATE INDEX alert_messages_edits ON alert_messages(state, revision, sent_revision) WHERE revision > sent_revision;
    CREATE TABLE alert_items (          -- one alerted trade day for one server
        id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        issuer_cik INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        day TEXT NOT NULL,               -- the transaction date
        side TEXT NOT NULL,              -- 'buy' or 'sell'
        state TEXT NOT NULL,             -- 'alert' (in message_id) or 'digest' (over the daily cap)
        message_id INTEGER REFERENCES alert_messages(id),
        accessions TEXT NOT NULL,        -- comma-separated: the filings the alert shows
        value_cents INTEGER NOT NULL,
        snapshot TEXT NOT NULL,          -- JSON: everything the alert shows, rendered when posted
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (guild_id, issuer_cik, group_key, day, side)
    );
    CREATE INDEX alert_items_issuer ON alert_items(issuer_cik, group_key, side, day);
    CREATE INDEX alert_items_message ON alert_items(message_id);
    CREATE INDEX alert_items_guild_day ON alert_items(guild_id, created_at);
    """
)

MIGRATIONS.append(
    # 7: personal watchlists and DM-alert settings (/mywatch); lookups the screens and history reads need
    """
    CREATE TABLE user_watchlist (
        user_id INTEGER NOT NULL,
        ticker TEXT NOT NULL,
        issuer_cik INTEGER NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (user_id, issuer_cik)
    );
    CREATE INDEX user_watchlist_issuer ON user_watchlist(issuer_cik);
    CREATE TABLE user_settings (
        user_id INTEGER PRIMARY KEY,
        dm_alerts INTEGER NOT NULL DEFAULT 0,
        sensitivity TEXT NOT NULL DEFAULT 'normal',
        min_value_cents INTEGER NOT NULL DEFAULT 100000000,
        daily_cap INTEGER NOT NULL DEFAULT 5,
        paused_reason TEXT
    );
    CREATE INDEX issuer_tickers_cik ON issuer_tickers(cik);
    CREATE INDEX holdings_issuer ON holdings(issuer_cik);
    CREATE INDEX filings_filed ON filings(filed_date, accepted_at);
    """
)
