#!/usr/bin/perl
# The scenario with Perl DBI + DBD::MariaDB (libmariadb). Parameters arrive in MOAT_* environment
# variables (see clients.ts); prints one JSON document.
use strict;
use warnings;
use DBI;
use Digest::SHA qw(sha256_hex);
use JSON::PP;

my %steps = map { $_ => 1 } split /,/, ($ENV{MOAT_STEPS} // '');
my ($user, $password, $db) = map { $ENV{$_} // '' } qw(MOAT_USER MOAT_PASSWORD MOAT_DATABASE);

sub dsn {
  my ($database) = @_;
  my @a = $ENV{MOAT_SOCKET} ? ("mariadb_socket=$ENV{MOAT_SOCKET}") : ("host=$ENV{MOAT_HOST}", "port=$ENV{MOAT_PORT}");
  push @a, "database=$database" if $database ne '';
  push @a, 'mariadb_multi_statements=1';
  # mariadb_ssl=1 refuses to go on without TLS; verify_server_cert also checks the name.
  push @a, 'mariadb_ssl=1', "mariadb_ssl_ca_file=$ENV{MOAT_TLS_CA}", 'mariadb_ssl_verify_server_cert=1'
    if $ENV{MOAT_TLS_CA};
  return 'DBI:MariaDB:' . join(';', @a);
}

sub connect_as {
  my ($u, $p, $d) = @_;
  return DBI->connect(dsn($d), $u, $p, { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}

sub current_user { my ($dbh) = @_; return $dbh->selectrow_hashref('SELECT CURRENT_USER() AS u')->{u}; }

sub fail_code {
  my ($u, $p, $d) = @_;
  my $dbh = DBI->connect(dsn($d), $u, $p, { RaiseError => 0, PrintError => 0 });
  die "connecting as $u to $d unexpectedly succeeded\n" if $dbh;
  return 0 + $DBI::err;
}

my $dbh = connect_as($user, $password, $db);
my %out = (currentUser => current_user($dbh));

$out{select} = $dbh->selectall_arrayref('SELECT id, name, v FROM t ORDER BY id', { Slice => {} })
  if $steps{select};

if ($steps{prepared}) {
  # Without mariadb_server_prepare DBD::MariaDB interpolates placeholders itself; ask for the real
  # COM_STMT_PREPARE / COM_STMT_EXECUTE.
  my $sth = $dbh->prepare('SELECT name FROM t WHERE id = ?', { mariadb_server_prepare => 1 });
  $out{prepared} = [];
  for my $id (2, 1) {
    $sth->execute($id);
    push @{ $out{prepared} }, $sth->fetchall_arrayref({});
  }
  $sth->finish;
}

if ($steps{multi}) {
  my $sth = $dbh->prepare('SELECT 1 AS a; SELECT 2 AS b, 3 AS c');
  $sth->execute;
  my @sets;
  do { push @sets, $sth->fetchall_arrayref({}) } while ($sth->more_results);
  $out{multi} = \@sets;
}

if ($steps{bigRow}) {
  my ($big) = $dbh->selectrow_array("SELECT REPEAT('x', 20971520) AS big");
  $out{bigRow} = { length => length($big), sha256 => sha256_hex($big) };
}

if ($steps{tls}) {
  my $row = $dbh->selectrow_hashref("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  $out{tls} = {
    server => ($row && $row->{Value} ne '') ? JSON::PP::true : JSON::PP::false,
    client => defined $dbh->{mariadb_ssl_cipher} ? JSON::PP::true : JSON::PP::false,
  };
}

# DBD::MariaDB has no change-user call.
$out{changeUser} = undef if $steps{changeUser};

$out{errors} = {
  wrongPassword => fail_code($user, "wrong-$password", $db),
  noSuchDb => fail_code($user, $password, $ENV{MOAT_NO_SUCH_DB}),
} if $steps{errors};

$dbh->disconnect;
print JSON::PP->new->utf8->canonical->encode(\%out), "\n";
