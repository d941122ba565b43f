# Self-test of the fallback Test::Nginx::Socket: generated .t files run in
# a subprocess ($^X) to check that problems fail, die or bail out instead
# of passing silently.  Uses the stock nginx.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
BEGIN { $ENV{OCI_TEST_FALLBACK} = 1 }
BEGIN { if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/../lib/fallback" } else { push @INC, "$FindBin::Bin/../lib/fallback" } }
use Test::More;
use Cwd qw(abs_path);
use File::Path qw(remove_tree);
use IO::Socket::INET;

my $lib  = abs_path("$FindBin::Bin/../lib/fallback");
my $root = abs_path("$FindBin::Bin/..") . '/servroot-fallback-failures';
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
remove_tree($root);
mkdir $root or die "mkdir $root: $!";

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    return $s->sockport;
}

sub slurp { open my $f, '<', $_[0] or return ''; local $/; <$f> }

# Write a data-driven .t (preamble code + __DATA__ blocks), run it, and
# return (exit code, combined output, servroot).
my $n = 0;
sub run_t {
    my ($code, $data, %env) = @_;
    my $use = delete $env{_use} // "use Test::Nginx::Socket 'no_plan';";
    $n++;
    my $file = "$root/case$n.t";
    my $sr   = "$root/servroot-case$n";
    open my $fh, '>', $file or die $!;
    print $fh "use strict; use warnings;\nBEGIN { unshift \@INC, '$lib' }\n",
              "$use\n$code\nrun_tests();\n__DATA__\n$data";
    close $fh;
    my $port = free_port();
    local %ENV = %ENV;
    delete @ENV{qw(TEST_NGINX_LOAD_MODULES TEST_NGINX_CLIENT_PORT TEST_NGINX_LOG_LEVEL
                   TEST_NGINX_NO_CLEAN OCI_TEST_STRICT_LOG OCI_TEST_SANITIZE)};
    %ENV = (%ENV, TEST_NGINX_BINARY => $nginx, TEST_NGINX_SERVROOT => $sr,
            TEST_NGINX_PORT => $port, TEST_NGINX_SERVER_PORT => $port, %env);
    my $out = `$^X $file 2>&1`;
    diag("case$n:\n$out") if $ENV{FALLBACK_SELFTEST_DEBUG};
    return ($? >> 8, $out, $sr);
}

my ($rc, $out, $sr);

# Unknown section dies.
($rc, $out) = run_t('', "=== TEST 1: x\n--- config\n--- request\nGET /\n--- test\nfoo\n");
isnt($rc, 0, 'unknown section: non-zero exit');
like($out, qr/unsupported in fallback: section '--- test'/, 'unknown section: message');

# Unknown filter dies.
($rc, $out) = run_t('', "=== TEST 1: x\n--- config\n--- request\nGET /\n--- response_body lines\nfoo\n");
isnt($rc, 0, 'unknown filter: non-zero exit');
like($out, qr/unsupported in fallback: filter 'lines'/, 'unknown filter: message');

# An eval error bails out (the real runner would use the error text as the value).
($rc, $out) = run_t('', "=== TEST 1: x\n--- config\n--- request eval\n\$undeclared\n");
isnt($rc, 0, 'eval error: non-zero exit');
like($out, qr/Bail out!.*Global symbol "\$undeclared"/s, 'eval error: bail out with the message');

# A wrong expectation makes a subtest fail.
($rc, $out) = run_t('', <<'_EOD_');
=== TEST 1: wrong status
--- config
    location = /t { return 200 "ok"; }
--- request
GET /t
--- error_code: 404
--- response_body: ok
_EOD_
isnt($rc, 0, 'wrong error_code: non-zero exit');
like($out, qr/^not ok \d+ - \S+ TEST 1: wrong status - status code ok$/m, 'wrong error_code: not ok');
like($out, qr/^ok \d+ - .* - response_body - response is expected/m, 'other checks still run');

# Unset $TEST_NGINX_* bails out.
($rc, $out) = run_t('', "=== TEST 1: x\n--- config\n    return 200 \$TEST_NGINX_NOPE_UNSET;\n--- request\nGET /\n");
isnt($rc, 0, 'unset env var: non-zero exit');
like($out, qr/Bail out!.*No environment TEST_NGINX_NOPE_UNSET defined/, 'unset env var: bail out');

# A client timeout fails unless --- abort.
($rc, $out) = run_t('', <<'_EOD_');
=== TEST 1: hangs
--- config
--- raw_request eval
"GET / HTTP/1.1\r\nHost: x\r\n"
--- timeout: 0.3
--- error_code:
_EOD_
like($out, qr/^not ok \d+ - ERROR: client socket timed out - .*TEST 1: hangs/m, 'timeout without abort fails');

# must_die that does not die; nginx that fails to start; the file goes on.
($rc, $out) = run_t('', <<'_EOD_');
=== TEST 1: must die but starts
--- config
--- must_die
=== TEST 2: fails to start
--- config
    no_such_directive;
--- request
GET /
=== TEST 3: next block still runs
--- config
--- request
GET /
--- response_body_like: It works
_EOD_
like($out, qr/^not ok \d+ - .*TEST 1: must die but starts - die as expected$/m, 'must_die that starts fails');
like($out, qr/^not ok \d+ - .*TEST 2: fails to start - nginx failed to start \(exit code 1\)$/m,
     'startup failure fails');
like($out, qr/^#.*\[emerg\].*unknown directive "no_such_directive"/m, 'startup failure shows [emerg]');
like($out, qr/^ok \d+ - .*TEST 3: next block still runs - response_body_like/m, 'next block runs');

# [crit] lines: a warning by default, a failure with OCI_TEST_STRICT_LOG=1.
my $crit = <<'_EOD_';
=== TEST 1: crit in the log
--- config
    location = /c { proxy_pass http://unix:/nonexistent-oci-fallback.sock; }
--- request
GET /c
--- error_code: 502
_EOD_
($rc, $out) = run_t('', $crit);
is($rc, 0, '[crit]: passes by default');
like($out, qr/^# WARNING: .*TEST 1: crit in the log - .*\[crit\].*nonexistent-oci-fallback/m, '[crit]: warning');
($rc, $out) = run_t('', $crit, OCI_TEST_STRICT_LOG => 1);
like($out, qr/^not ok \d+ - .* - unexpected \[crit\] in error\.log/m, '[crit]: fails when strict');

# Sanitizer reports in the logs fail the block (faked through a 404 path).
($rc, $out) = run_t('', <<'_EOD_');
=== TEST 1: sanitizer
--- config
--- request
GET /ERROR:%20AddressSanitizer
--- error_code: 404
_EOD_
like($out, qr/^not ok \d+ - .*TEST 1: sanitizer - sanitizer error in error\.log/m, 'sanitizer report fails');

# OCI_TEST_SANITIZE: LD_PRELOAD and ASAN_OPTIONS reach nginx.
($rc, $out, $sr) = run_t('', <<'_EOD_', OCI_TEST_SANITIZE => '/nonexistent/libfake-asan.so');
=== TEST 1: preload
--- config
--- init
my $pid = do { open my $f, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid" or die $!; local $/; <$f> };
chomp $pid;
my $env = do { open my $f, '<', "/proc/$pid/environ" or die $!; local $/; <$f> };
Test::More::like($env, qr{(?:^|\0)LD_PRELOAD=/nonexistent/libfake-asan\.so\0}, 'LD_PRELOAD set');
Test::More::like($env, qr{(?:^|\0)ASAN_OPTIONS=detect_leaks=0\0}, 'ASAN_OPTIONS set');
--- request
GET /
_EOD_
is($rc, 0, 'OCI_TEST_SANITIZE: passes');
like($out, qr/^ok \d+ - LD_PRELOAD set$/m, 'OCI_TEST_SANITIZE: LD_PRELOAD');
like($out, qr/^ok \d+ - ASAN_OPTIONS set$/m, 'OCI_TEST_SANITIZE: ASAN_OPTIONS');
my $stderr = slurp("$sr/logs/stderr.log");
like($stderr, qr/libfake-asan\.so/, 'nginx stderr goes to logs/stderr.log');

# repeat_each, master_on and a nginx that dies during a block.
($rc, $out, $sr) = run_t('repeat_each(2); master_on(); no_shuffle();', <<'_EOD_');
=== TEST 1: repeated
--- config
    location = /t { return 200 "ok"; }
--- request
GET /t
--- response_body: ok
=== TEST 2: nginx killed
--- config
--- init
my $pid = do { open my $f, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid" or die $!; local $/; <$f> };
kill 'KILL', -$pid;
--- request
GET /
--- timeout: 0.5
_EOD_
like($out, qr/^ok \d+ - .*TEST 1: repeated - response_body - response is expected \(repeated req 1, req 0\)$/m,
     'repeat_each reruns the requests');
like($out, qr/^not ok \d+ - .*TEST 2: nginx killed - nginx exited unexpectedly \(killed by signal 9\)$/m,
     'a dead nginx is reported');
my $conf = slurp("$sr/conf/nginx.conf");
like($conf, qr/^master_process on;$/m, 'master_on');
like($conf, qr/^user root;$/m, 'user root with master_on as root') if $> == 0;

# With several requests the log is checked after each one (as the real runner does).
($rc, $out) = run_t('', <<'_EOD_');
=== TEST 1: per-request log slices
--- config
--- request eval
["GET /missing-one", "GET /"]
--- error_code eval
[404, 200]
--- error_log
missing-one
_EOD_
like($out, qr/^ok \d+ - .* - pattern "missing-one" matches a line in error\.log/m, 'first slice matches');
like($out, qr/^not ok \d+ - .* - pattern "missing-one" should match a line in error\.log/m,
     'second slice does not');

# Scalar expectation with several requests bails out, like the real runner.
($rc, $out) = run_t('', "=== TEST 1: x\n--- config\n--- request eval\n[\"GET /\", \"GET /\"]\n--- error_code: 200\n");
like($out, qr/Bail out!.*expected results should be arrays/, 'scalar expectation with several requests');

# Sections ignored by the real runner without --- config bail out here.
($rc, $out) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n=== TEST 2: b\n--- http_config\n    gzip on;\n--- request\nGET /\n");
like($out, qr/Bail out!.*http_config without --- config/, 'http_config without config');

# A check the real runner would drop is refused.
for my $pair (['error_code_like: 200', 'error_code: 200'],
              ['response_body: x', 'response_body_like: x'],
              ['response_body: x', 'response_body_unlike: y'],
              ['response_body_like: x', 'response_body_unlike: y'],
              ['response_headers: A: b', 'response_headers_like: A: b'])
{
    my ($kept) = $pair->[0] =~ /^(\w+)/;
    my ($dropped) = $pair->[1] =~ /^(\w+)/;
    ($rc, $out) = run_t('', "=== TEST 1: x\n--- config\n--- request\nGET /\n"
                          . "--- $pair->[0]\n--- $pair->[1]\n");
    isnt($rc, 0, "$kept with $dropped: non-zero exit");
    like($out, qr/Bail out!.*--- $kept and --- $dropped in one block/,
         "$kept with $dropped: refused");
}

# Anything but the runner's own directories left in the servroot stops the
# run before nginx starts, as under the real runner.
($rc, $out, $sr) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n"
    . "--- response_body_like: It works\n");
is($rc, 0, 'servroot: a clean one is used');
mkdir "$sr/module_data" or die "mkdir: $!";
($rc, $out) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n",
                    TEST_NGINX_SERVROOT => $sr);
isnt($rc, 0, 'servroot: leftovers: non-zero exit');
like($out, qr/Bail out!.*Can't remove \Q$sr\E \(not empty\?\)/,
     'servroot: leftovers: the real runner\'s message');
ok(-d "$sr/module_data", 'servroot: leftovers are not deleted');

# A mode of the real runner this one lacks stops the run.
($rc, $out) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n",
                    TEST_NGINX_USE_HUP => 1);
isnt($rc, 0, 'TEST_NGINX_USE_HUP: non-zero exit');
like($out, qr/Bail out!.*TEST_NGINX_USE_HUP is not supported/,
     'TEST_NGINX_USE_HUP: refused');
unlike($out, qr/^ok /m, 'TEST_NGINX_USE_HUP: nothing ran');

# nginx starts afresh for every block with a --- config, even the same
# one (the real runner's default), and a block without one keeps it.
($rc, $out) = run_t('our @pids; add_response_body_check(sub { push @pids, $_[1] });'
                    . ' END { print "PIDS @pids\n" }',
    "=== TEST 1: a\n--- config\n    location = /p { return 200 \$pid; }\n"
    . "--- request\nGET /p\n"
    . "=== TEST 2: b\n--- config\n    location = /p { return 200 \$pid; }\n"
    . "--- request\nGET /p\n"
    . "=== TEST 3: c\n--- request\nGET /p\n");
my @pids = $out =~ /^PIDS (\d+) (\d+) (\d+)$/m;
is(scalar @pids, 3, 'restart per block: three answers');
isnt($pids[0], $pids[1], 'restart per block: the same config is started again');
is($pids[1], $pids[2], 'restart per block: a block without config keeps nginx');

($rc, $out) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n",
                    TEST_NGINX_FORCE_RESTART_ON_TEST => 0);
like($out, qr/Bail out!.*TEST_NGINX_FORCE_RESTART_ON_TEST is not supported/,
     'TEST_NGINX_FORCE_RESTART_ON_TEST=0: refused');
($rc, $out) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n",
                    TEST_NGINX_FORCE_RESTART_ON_TEST => 1);
is($rc, 0, 'TEST_NGINX_FORCE_RESTART_ON_TEST=1 (the default): runs');

# ONLY runs a single block.
($rc, $out) = run_t('', "=== TEST 1: a\n--- config\n--- request\nGET /\n=== TEST 2: b\n--- ONLY\n--- config\n--- request\nGET /\n");
unlike($out, qr/TEST 1: a/, 'ONLY: other blocks skipped');
like($out, qr/TEST 2: b - status code ok/, 'ONLY: the block runs');

# The explicit-plan form: blocks() counts before run_tests.
($rc, $out) = run_t('repeat_each(2); plan tests => repeat_each() * 2 * blocks();', <<'_EOD_',
=== TEST 1: a
--- config
--- request
GET /
--- response_body_like: It works
=== TEST 2: b
--- request
GET /
--- response_body_like: It works
=== TEST 3: skipped
--- SKIP
_EOD_
    _use => 'use Test::Nginx::Socket;');
is($rc, 0, 'explicit plan: passes');
like($out, qr/^1\.\.8$/m, 'explicit plan: 2 x 2 x 2 tests');

# Unsupported helpers die.
($rc, $out) = run_t("config_preamble('x');", "=== TEST 1: a\n--- config\n");
like($out, qr/unsupported in fallback: config_preamble/, 'unsupported helper dies');

done_testing();
remove_tree($root);
