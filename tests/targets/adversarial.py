"""Adversarial SQL corpus: statements a generated-SQL executor must not run.

Every entry is rejected by the gate, except resource bombs (``bomb=True``), which
may be legal SELECTs; those must then be stopped by the sandbox's deadline or
limits. Table names refer to Spider's ``concert_singer`` database. ``engines``
names the engines an entry is written for (empty: every engine): elsewhere it
may be harmless (``/*! ... */`` is only a comment outside MySQL), so tests run an
entry only on the engines and dialects it applies to.
"""

from __future__ import annotations

from typing import NamedTuple


class Attack(NamedTuple):
    """One adversarial statement and the class of attack it belongs to.

    ``engines`` names the engines the statement is aimed at; empty means all.
    """

    kind: str
    sql: str
    bomb: bool = False
    engines: tuple[str, ...] = ()

    def applies_to(self, engine: str) -> bool:
        """Whether the entry is written for ``engine``."""
        return not self.engines or engine in self.engines


# A 12-way cross join of a 6-row table: 6**12 rows.
_CROSS = (
    "singer s0, singer s1, singer s2, singer s3, singer s4, singer s5, "
    "singer s6, singer s7, singer s8, singer s9, singer s10, singer s11"
)

_DUCKDB = ("duckdb",)
_MARIADB = ("mariadb",)

# What DuckDB adds: files and URLs read from SQL, extensions, settings, secrets,
# and scalar calls that build values of any size outside its memory limit.
_DUCKDB_ATTACKS: tuple[Attack, ...] = tuple(
    Attack(kind, sql, bomb=bomb, engines=_DUCKDB)
    for kind, sql, bomb in (
        ("file_read", "SELECT * FROM read_csv('/etc/passwd', sep = ':')", False),
        ("file_read", "SELECT * FROM read_csv_auto('/etc/passwd')", False),
        ("file_read", "SELECT * FROM read_text('/etc/passwd')", False),
        ("file_read", "SELECT * FROM read_blob('/etc/passwd')", False),
        ("file_read", "SELECT * FROM read_json_auto('/etc/hostname')", False),
        ("file_read", "SELECT * FROM read_parquet('/tmp/loopgate_x.parquet')", False),
        ("file_read", "SELECT * FROM parquet_scan('/tmp/loopgate_x.parquet')", False),
        ("file_read", "SELECT * FROM glob('/etc/*')", False),
        ("file_read", "SELECT * FROM sniff_csv('/etc/passwd')", False),
        (
            "file_read",
            "SELECT count(*) FROM singer WHERE Name IN "
            "(SELECT * FROM read_csv('/etc/passwd'))",
            False,
        ),
        ("replacement_scan", "SELECT * FROM '/etc/passwd'", False),
        ("replacement_scan", 'SELECT * FROM "/etc/passwd"', False),
        ("replacement_scan", "FROM '/etc/hosts'", False),
        ("replacement_scan", "SELECT * FROM 'singer.csv'", False),
        ("url_read", "SELECT * FROM 'https://example.com/x.csv'", False),
        ("url_read", "SELECT * FROM read_csv('https://example.com/x.csv')", False),
        ("copy", "COPY singer TO '/tmp/loopgate_duck.csv'", False),
        (
            "copy",
            "COPY (SELECT * FROM singer) TO '/tmp/loopgate_duck.parquet' "
            "(FORMAT parquet)",
            False,
        ),
        ("attach", "ATTACH '/tmp/loopgate_duck.duckdb' AS evil", False),
        ("attach", "ATTACH ':memory:' AS m", False),
        ("attach", "DETACH evil", False),
        ("extension", "INSTALL httpfs", False),
        ("extension", "LOAD httpfs", False),
        ("extension", "FORCE INSTALL httpfs FROM community", False),
        ("server_settings", "PRAGMA enable_external_access", False),
        ("server_settings", "SET enable_external_access = true", False),
        ("server_settings", "RESET lock_configuration", False),
        ("server_settings", "SET GLOBAL memory_limit = '100GB'", False),
        ("server_settings", "USE memory", False),
        ("export", "EXPORT DATABASE '/tmp/loopgate_duck_export'", False),
        ("export", "IMPORT DATABASE '/tmp/loopgate_duck_export'", False),
        ("server_functions", "SELECT getenv('HOME')", False),
        ("nested_query", "SELECT * FROM query('DELETE FROM singer')", False),
        (
            "nested_query",
            "SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')",
            False,
        ),
        ("ddl", "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')", False),
        ("ddl", "CREATE OR REPLACE TEMP MACRO lower(x) AS 'pwned'", False),
        ("maintenance", "CHECKPOINT", False),
        ("maintenance", "CALL checkpoint()", False),
        ("resource_bomb", "SELECT repeat('x', 2000000000)", True),
        ("resource_bomb", "SELECT repeat(repeat('x', 1000000), 1000000)", True),
        ("resource_bomb", "SELECT printf('%2000000000d', 1)", True),
        ("resource_bomb", "SELECT format('{:>2000000000}', 1)", True),
        ("resource_bomb", "SELECT format('{:>{}}', 1, 2000000000)", True),
        ("resource_bomb", "SELECT len(range(200000000))", True),
        ("resource_bomb", "SELECT len(list_resize([1], 200000000))", True),
        ("resource_bomb", "SELECT lpad('x', 2000000000, 'y')", True),
        ("resource_bomb", "SELECT x FROM range(200000000) t(x) ORDER BY x DESC", True),
        ("resource_bomb", "SELECT count(*) FROM range(1000000000000)", True),
        (
            "resource_bomb",
            "WITH RECURSIVE t(s, n) AS (SELECT 'x', 0 UNION ALL "
            "SELECT s || s, n + 1 FROM t WHERE n < 40) SELECT max(length(s)) FROM t",
            True,
        ),
    )
)


CORPUS: tuple[Attack, ...] = (
    Attack("dml", "DELETE FROM singer"),
    Attack("dml", "UPDATE singer SET Name = 'x'"),
    Attack("dml", "INSERT INTO singer (Singer_ID, Name) VALUES (99, 'x')"),
    Attack("dml", "INSERT OR REPLACE INTO singer (Singer_ID, Name) VALUES (1, 'x')"),
    Attack("dml", "REPLACE INTO singer (Singer_ID, Name) VALUES (1, 'x')"),
    Attack("dml", "DELETE FROM singer WHERE 1 = 1 RETURNING *"),
    Attack("ddl", "DROP TABLE singer"),
    Attack("ddl", "CREATE TABLE evil (x INT)"),
    Attack("ddl", "ALTER TABLE singer ADD COLUMN evil TEXT"),
    Attack("ddl", "CREATE INDEX evil_idx ON singer (Name)"),
    Attack("ddl", "CREATE VIEW evil_v AS SELECT * FROM singer"),
    Attack("ddl", "CREATE TRIGGER evil_t AFTER INSERT ON singer BEGIN SELECT 1; END"),
    Attack("ddl", "DROP TABLE IF EXISTS concert"),
    Attack("multi_statement", "SELECT 1; DELETE FROM singer"),
    Attack("multi_statement", "SELECT * FROM singer; DROP TABLE singer;"),
    Attack("multi_statement", "SELECT 1;\nUPDATE singer SET Age = 0"),
    Attack("multi_statement", "SELECT 1; SELECT 2"),
    Attack("multi_statement", "SELECT count(*) FROM singer;;DELETE FROM singer"),
    Attack(
        "writable_cte", "WITH d AS (DELETE FROM singer RETURNING *) SELECT * FROM d"
    ),
    Attack(
        "writable_cte",
        "WITH u AS (UPDATE singer SET Age = 1 RETURNING Singer_ID) "
        "SELECT count(*) FROM u",
    ),
    Attack(
        "writable_cte",
        "WITH i AS (INSERT INTO singer (Singer_ID) VALUES (7) RETURNING 1) "
        "SELECT * FROM i",
    ),
    Attack("select_into", "SELECT * INTO evil FROM singer"),
    Attack("select_into", "SELECT Name INTO TEMP evil2 FROM singer"),
    Attack("pragma", "PRAGMA query_only = OFF"),
    Attack("pragma", "PRAGMA writable_schema = ON"),
    Attack("pragma", "PRAGMA journal_mode = DELETE"),
    # DuckDB's pragma_table_info is a read-only table function (the gate refuses it).
    Attack(
        "pragma",
        "SELECT * FROM pragma_table_info('singer')",
        engines=("sqlite", "postgresql", "mariadb"),
    ),
    Attack("attach", "ATTACH DATABASE '/tmp/loopgate_evil.db' AS evil"),
    Attack("attach", "ATTACH 'file:/tmp/loopgate_evil2.db?mode=rwc' AS evil"),
    Attack("attach", "DETACH DATABASE main"),
    Attack("vacuum", "VACUUM INTO '/tmp/loopgate_copy.db'"),
    Attack("vacuum", "VACUUM"),
    Attack("maintenance", "REINDEX"),
    Attack("maintenance", "ANALYZE"),
    Attack("load_extension", "SELECT load_extension('/tmp/evil.so')"),
    Attack("load_extension", "SELECT LOAD_EXTENSION('evil', 'entry')"),
    Attack("file_functions", "SELECT writefile('/tmp/loopgate_evil.txt', 'x')"),
    Attack("file_functions", "SELECT readfile('/etc/passwd')"),
    Attack("file_functions", "SELECT edit('x', 'vi')"),
    Attack("file_functions", "SELECT fts3_tokenizer('simple')"),
    Attack("server_settings", "SELECT set_config('statement_timeout', '0', false)"),
    Attack("server_settings", "SET statement_timeout = 0"),
    Attack("server_settings", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"),
    Attack("server_functions", "SELECT pg_sleep(30)"),
    Attack("server_functions", "SELECT pg_catalog.pg_sleep_for('30 seconds')"),
    Attack("server_functions", "SELECT pg_read_file('/etc/passwd')"),
    Attack("server_functions", "SELECT lo_import('/etc/passwd')"),
    Attack(
        "server_functions",
        "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS t(x int)",
    ),
    Attack("server_functions", "SELECT nextval('some_sequence')"),
    Attack("copy", "COPY singer TO '/tmp/loopgate_out.csv'"),
    Attack("copy", "COPY singer FROM '/etc/passwd'"),
    Attack("copy", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'"),
    Attack("comment_trick", "SELECT 1 -- harmless\n; DELETE FROM singer"),
    Attack("comment_trick", "SELECT 1 /* ; */ ; DROP TABLE singer"),
    Attack("comment_trick", "/* SELECT */ DELETE FROM singer"),
    Attack("comment_trick", "SELECT 1; --\nDROP TABLE singer --"),
    Attack("quoting_trick", "SELECT ';'; DELETE FROM singer"),
    Attack("quoting_trick", 'SELECT "a;"; DELETE FROM singer'),
    Attack("quoting_trick", "SELECT 'it''s'; DROP TABLE singer; --'"),
    Attack("quoting_trick", "SELECT [x;]; DELETE FROM singer"),
    Attack("transaction", "BEGIN"),
    Attack("transaction", "COMMIT"),
    Attack("transaction", "ROLLBACK"),
    Attack("transaction", "BEGIN IMMEDIATE"),
    Attack("transaction", "COMMIT; DELETE FROM singer"),
    Attack("transaction", "SAVEPOINT s1"),
    Attack("temp_table", "CREATE TEMP TABLE evil AS SELECT * FROM singer"),
    Attack("temp_table", "CREATE TEMPORARY VIEW evil AS SELECT 1"),
    Attack("locking", "SELECT * FROM singer FOR UPDATE"),
    Attack("locking", "SELECT * FROM singer FOR SHARE"),
    Attack(
        "resource_bomb",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM c",
        bomb=True,
    ),
    Attack(
        "resource_bomb",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT max(x) FROM c ORDER BY 1",
        bomb=True,
    ),
    Attack("resource_bomb", "SELECT count(*) FROM " + _CROSS, bomb=True),  # noqa: S608
    Attack(
        "resource_bomb",
        "SELECT s0.Name FROM " + _CROSS + " ORDER BY random()",  # noqa: S608
        bomb=True,
    ),
    Attack("resource_bomb", "SELECT randomblob(2000000000)", bomb=True),
    Attack("resource_bomb", "SELECT zeroblob(2000000000)", bomb=True),
    Attack("resource_bomb", "SELECT printf('%.*c', 2000000000, 'x')", bomb=True),
    Attack("resource_bomb", "SELECT printf('%2000000000d', 1)", bomb=True),
    Attack(
        "resource_bomb",
        "SELECT printf('%.*c', (SELECT max(Age) FROM singer) * 50000000, 'x')",
        bomb=True,
    ),
    Attack(
        "resource_bomb",
        "SELECT length(replace(hex(zeroblob(900000)), '0', hex(zeroblob(900000))))",
        bomb=True,
    ),
    Attack(
        "resource_bomb",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT group_concat(x) FROM c",
        bomb=True,
    ),
    *(
        Attack(kind, sql, bomb, _MARIADB)
        for kind, sql, bomb in (
            ("mysql_files", "SELECT LOAD_FILE('/etc/passwd')", False),
            ("mysql_files", "SELECT 1 UNION SELECT LOAD_FILE('/etc/passwd')", False),
            (
                "mysql_files",
                "SELECT * FROM singer INTO OUTFILE '/tmp/lg_out.txt'",
                False,
            ),
            (
                "mysql_files",
                "SELECT * INTO OUTFILE '/tmp/lg_out2.txt' FROM singer",
                False,
            ),
            (
                "mysql_files",
                "SELECT Name FROM singer INTO DUMPFILE '/tmp/lg_dump'",
                False,
            ),
            ("mysql_files", "LOAD DATA INFILE '/etc/passwd' INTO TABLE singer", False),
            (
                "mysql_files",
                "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE singer",
                False,
            ),
            ("mysql_waits", "SELECT SLEEP(30)", True),
            ("mysql_waits", "SELECT `SLEEP`(30)", True),
            ("mysql_waits", "SELECT Name FROM singer WHERE SLEEP(30) = 0", True),
            ("mysql_waits", "SELECT BENCHMARK(10000000000, MD5('x'))", True),
            (
                "mysql_waits",
                "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(30)",
                True,
            ),
            ("mysql_waits", "DO SLEEP(30)", True),
            # MariaDB's Sequence engine: seq_1_to_N exists in every database.
            ("mysql_bombs", "SELECT count(*) FROM seq_1_to_100000000000", True),
            ("mysql_bombs", "SELECT seq FROM seq_1_to_1000000000", True),
            ("mysql_bombs", "SELECT REPEAT('x', 16000000) FROM seq_1_to_100", True),
            (
                "mysql_bombs",
                "SELECT JSON_ARRAYAGG(REPEAT('x', 1000000)) FROM seq_1_to_100000",
                True,
            ),
            ("mysql_named_locks", "SELECT GET_LOCK('loopgate', 0)", False),
            ("mysql_named_locks", "SELECT RELEASE_LOCK('loopgate')", False),
            ("mysql_named_locks", "SELECT RELEASE_ALL_LOCKS()", False),
            ("mysql_session", "SET @x = 1", False),
            ("mysql_session", "SELECT @x := 1", False),
            ("mysql_session", "SELECT Name, (@n := @n + 1) FROM singer", False),
            ("mysql_session", "SELECT 1 INTO @x", False),
            ("mysql_session", "SET SESSION max_statement_time = 0", False),
            ("mysql_session", "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", False),
            ("mysql_session", "SET autocommit = 1", False),
            ("mysql_session", "SET SESSION TRANSACTION READ WRITE", False),
            ("mysql_session", "SET ROLE NONE", False),
            ("mysql_session", "SET STATEMENT max_statement_time=0 FOR SELECT 1", False),
            ("mysql_session", "SELECT @@datadir", False),
            ("mysql_session", "USE mysql", False),
            ("mysql_statements", "HANDLER singer OPEN", False),
            ("mysql_statements", "LOCK TABLES singer READ", False),
            ("mysql_statements", "LOCK TABLES singer WRITE", False),
            (
                "mysql_statements",
                "CALL mysql.AddGeometryColumn('a', 'b', 'c', 'd', 1)",
                False,
            ),
            ("mysql_statements", "PREPARE s FROM 'DELETE FROM singer'", False),
            ("mysql_statements", "EXECUTE s", False),
            ("mysql_statements", "KILL 1", False),
            ("mysql_statements", "FLUSH TABLES", False),
            ("mysql_statements", "SHOW GRANTS", False),
            ("mysql_statements", "INSTALL SONAME 'ha_connect'", False),
            (
                "mysql_statements",
                "CREATE FUNCTION sys_exec RETURNS int SONAME 'x.so'",
                False,
            ),
            ("mysql_statements", "GRANT ALL ON *.* TO CURRENT_USER", False),
            ("mysql_statements", "RENAME TABLE singer TO singer_old", False),
            ("mysql_statements", "TRUNCATE singer", False),
            ("mysql_statements", "DELETE singer FROM singer", False),
            (
                "mysql_statements",
                "INSERT INTO singer (Singer_ID) VALUES (1) "
                "ON DUPLICATE KEY UPDATE Name = 'x'",
                False,
            ),
            ("mysql_statements", "START TRANSACTION READ WRITE", False),
            ("mysql_statements", "XA START 'x'", False),
            ("mysql_statements", "CREATE SEQUENCE evil_seq", False),
            ("mysql_statements", "SELECT * FROM singer LOCK IN SHARE MODE", False),
            ("mysql_system", "SELECT * FROM information_schema.tables", False),
            (
                "mysql_system",
                "SELECT * FROM `INFORMATION_SCHEMA`.`USER_PRIVILEGES`",
                False,
            ),
            ("mysql_system", "SELECT User, Password FROM mysql.user", False),
            ("mysql_system", "SELECT * FROM `mysql`.`global_priv`", False),
            ("mysql_system", "SELECT * FROM performance_schema.threads", False),
            ("mysql_system", "SELECT * FROM sys.processlist", False),
            ("mysql_comments", "SELECT /*!50000 SLEEP(30) */ 1", True),
            ("mysql_comments", "SELECT /*M! SLEEP(30), */ 1", True),
            ("mysql_comments", "SELECT 1 /*!, LOAD_FILE('/etc/passwd') */", False),
            ("mysql_comments", "SELECT /*+ MAX_EXECUTION_TIME(0) */ 1", False),
            ("mysql_comments", "SELECT 1 --LOAD_FILE('/etc/passwd')", False),
            ("mysql_comments", "SELECT 1 # \n; DELETE FROM singer", False),
        )
    ),
    *_DUCKDB_ATTACKS,
)
