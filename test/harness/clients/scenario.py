"""The scenario with PyMySQL. Parameters arrive in MOAT_* environment variables (see clients.ts);
prints one JSON document. Run with Debian's /usr/bin/python3, which has python3-pymysql."""
import hashlib
import json
import os
import ssl
import sys

import pymysql
from pymysql.constants import CLIENT

env = os.environ.get
steps = set(env('MOAT_STEPS', '').split(','))


def connect(user, password, db):
    kw = dict(user=user, password=password, database=db or None, charset='utf8mb4',
              client_flag=CLIENT.MULTI_STATEMENTS, cursorclass=pymysql.cursors.DictCursor)
    if env('MOAT_SOCKET'):
        kw['unix_socket'] = env('MOAT_SOCKET')
    else:
        kw['host'] = env('MOAT_HOST')
        kw['port'] = int(env('MOAT_PORT'))
    if env('MOAT_TLS_CA'):
        # A 'ca' gives CERT_REQUIRED and check_hostname (against the host dialled).
        kw['ssl'] = {'ca': env('MOAT_TLS_CA')}
    return pymysql.connect(**kw)


def query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def current_user(conn):
    return query(conn, 'SELECT CURRENT_USER() AS u')[0]['u']


def fail_code(user, password, db):
    try:
        connect(user, password, db).close()
    except pymysql.err.MySQLError as e:
        return e.args[0]
    raise RuntimeError(f'connecting as {user} to {db} unexpectedly succeeded')


user, password, db = env('MOAT_USER'), env('MOAT_PASSWORD', ''), env('MOAT_DATABASE', '')
conn = connect(user, password, db)
out = {'currentUser': current_user(conn)}

if 'select' in steps:
    out['select'] = query(conn, 'SELECT id, name, v FROM t ORDER BY id')

if 'prepared' in steps:
    # PyMySQL has no server-side prepared statements: it escapes the parameter into the text and
    # sends COM_QUERY.
    out['prepared'] = [query(conn, 'SELECT name FROM t WHERE id = %s', (p,)) for p in (2, 1)]

if 'multi' in steps:
    with conn.cursor() as cur:
        cur.execute('SELECT 1 AS a; SELECT 2 AS b, 3 AS c')
        sets = [list(cur.fetchall())]
        while cur.nextset():
            sets.append(list(cur.fetchall()))
    out['multi'] = sets

if 'bigRow' in steps:
    big = query(conn, "SELECT REPEAT('x', 20971520) AS big")[0]['big']
    out['bigRow'] = {'length': len(big), 'sha256': hashlib.sha256(big.encode()).hexdigest()}
    del big

if 'tls' in steps:
    rows = query(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    # After the SSLRequest PyMySQL wraps its socket in an ssl.SSLSocket.
    out['tls'] = {'server': bool(rows and rows[0]['Value']),
                  'client': isinstance(conn._sock, ssl.SSLSocket)}

if 'changeUser' in steps:
    # PyMySQL has no change_user (no COM_CHANGE_USER at all).
    out['changeUser'] = None

if 'errors' in steps:
    out['errors'] = {'wrongPassword': fail_code(user, 'wrong-' + password, db),
                     'noSuchDb': fail_code(user, password, env('MOAT_NO_SUCH_DB'))}

conn.close()
json.dump(out, sys.stdout)
print()
