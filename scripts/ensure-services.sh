#!/usr/bin/env bash
# Start the services the test suite needs if they are not already running.
# PostgreSQL: the tests create and drop their own databases on 127.0.0.1:5432.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! pg_up; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        version="$(ls /etc/postgresql | sort -V | tail -1)"
        echo "starting PostgreSQL $version ..."
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! pg_up; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started;" >&2
    echo "set CASECHAIN_TEST_PG to an admin URL of a server the tests may use." >&2
    exit 1
fi
echo "PostgreSQL is up on 127.0.0.1:5432"
