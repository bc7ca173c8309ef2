<?php
// The scenario with PHP mysqli (mysqlnd). Parameters arrive in MOAT_* environment variables (see
// clients.ts); prints one JSON document.
declare(strict_types=1);
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

function env(string $k): string { $v = getenv($k); return $v === false ? '' : $v; }

$steps = array_flip(explode(',', env('MOAT_STEPS')));

function connect(string $user, string $password, string $db): mysqli {
  $m = mysqli_init();
  $flags = 0;
  $ca = env('MOAT_TLS_CA');
  if ($ca !== '') {
    // mysqlnd checks the chain against the CA and the certificate's name against the host dialled.
    $m->ssl_set(null, null, $ca, null, null);
    $m->options(MYSQLI_OPT_SSL_VERIFY_SERVER_CERT, true);
    $flags |= MYSQLI_CLIENT_SSL;
  }
  $socket = env('MOAT_SOCKET');
  if ($socket !== '') {
    // mysqlnd takes the socket path only when the host is 'localhost' (or null).
    $m->real_connect('localhost', $user, $password, $db === '' ? null : $db, 0, $socket, $flags);
  } else {
    $m->real_connect(env('MOAT_HOST'), $user, $password, $db === '' ? null : $db, (int) env('MOAT_PORT'), null, $flags);
  }
  $m->set_charset('utf8mb4');
  return $m;
}

function rows(mysqli_result $r): array { $all = $r->fetch_all(MYSQLI_ASSOC); $r->free(); return $all; }

function current_user(mysqli $m): string { return rows($m->query('SELECT CURRENT_USER() AS u'))[0]['u']; }

function fail_code(string $user, string $password, string $db): int {
  try {
    connect($user, $password, $db)->close();
  } catch (mysqli_sql_exception $e) {
    return $e->getCode();
  }
  throw new RuntimeException("connecting as $user to $db unexpectedly succeeded");
}

$user = env('MOAT_USER');
$password = env('MOAT_PASSWORD');
$db = env('MOAT_DATABASE');
$m = connect($user, $password, $db);
$out = ['currentUser' => current_user($m)];

if (isset($steps['select'])) $out['select'] = rows($m->query('SELECT id, name, v FROM t ORDER BY id'));

if (isset($steps['prepared'])) {
  $st = $m->prepare('SELECT name FROM t WHERE id = ?');
  $id = 0;
  $st->bind_param('i', $id);
  $out['prepared'] = [];
  foreach ([2, 1] as $id) {
    $st->execute();
    $out['prepared'][] = rows($st->get_result());
  }
  $st->close();
}

if (isset($steps['multi'])) {
  // multi_query turns multi-statements on for this one query (COM_SET_OPTION around it).
  $m->multi_query('SELECT 1 AS a; SELECT 2 AS b, 3 AS c');
  $sets = [];
  do {
    $r = $m->store_result();
    if ($r !== false) $sets[] = rows($r);
  } while ($m->more_results() && $m->next_result());
  $out['multi'] = $sets;
}

if (isset($steps['bigRow'])) {
  $big = rows($m->query("SELECT REPEAT('x', 20971520) AS big"))[0]['big'];
  $out['bigRow'] = ['length' => strlen($big), 'sha256' => hash('sha256', $big)];
  unset($big);
}

if (isset($steps['tls'])) {
  $cipher = rows($m->query("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))[0]['Value'] ?? '';
  // mysqli does not say whether its own connection is encrypted.
  $out['tls'] = ['server' => $cipher !== '', 'client' => null];
}

if (isset($steps['changeUser'])) {
  $m->change_user(env('MOAT_CHANGE_USER'), env('MOAT_CHANGE_PASSWORD'), $db === '' ? null : $db);
  $out['changeUser'] = current_user($m);
}

if (isset($steps['errors'])) {
  $out['errors'] = [
    'wrongPassword' => fail_code($user, 'wrong-' . $password, $db),
    'noSuchDb' => fail_code($user, $password, env('MOAT_NO_SUCH_DB')),
  ];
}

$m->close();
echo json_encode($out, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE), "\n";
