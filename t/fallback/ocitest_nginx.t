# Self-test of t/lib/OciTest/Nginx.pm against the stock nginx.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);

BEGIN {
    $ENV{TEST_NGINX_BINARY} ||= '/usr/sbin/nginx';
    delete @ENV{qw(TEST_NGINX_LOAD_MODULES TEST_NGINX_REDIS_PORT OCI_TEST_KEEP OCI_TEST_SANITIZE)};
}
use OciTest::Nginx;

my $conf = <<'_EOC_';
%%GLOBALS%%
master_process %%MASTER%%;
worker_processes 2;
events { worker_connections 64; }
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /hello { return 200 "%%GREETING%%"; }
        location = /crit { proxy_pass http://unix:%%TESTDIR%%/missing.sock; }
        location /files/ { root %%TESTDIR%%; }
    }
}
_EOC_

my $t = OciTest::Nginx->new;
ok(-d $t->dir && -d $t->dir . '/logs', 'test dir with logs/');
like($t->port, qr/^\d+$/, 'port');
is($t->url('/x'), 'http://127.0.0.1:' . $t->port . '/x', 'url');

# Template expansion.
eval { $t->write_config("%%NOPE%%") };
like($@, qr/unknown placeholder %%NOPE%%/, 'unknown placeholder dies');
eval { $t->write_config("%%REDIS_PORT%%") };
like($@, qr/TEST_NGINX_REDIS_PORT/, '%%REDIS_PORT%% without the env var dies');
{
    local $ENV{TEST_NGINX_REDIS_PORT} = 6390;
    $t->write_config("x %%REDIS_PORT%% %%TESTDIR%%");
    my $dir = $t->dir;
    is(do { local $/; open my $f, '<', "$dir/nginx.conf" or die; <$f> }, "x 6390 $dir", 'REDIS_PORT and TESTDIR');
}

$t->set(GREETING => 'hi', MASTER => 'on')->write_config($conf);
$t->write_file('files/a.txt', 'file a');
$t->start;
ok($t->pid, 'started');
my $http = $t->http;
my $r = $http->get($t->url('/hello'));
is("$r->{status} $r->{content}", '200 hi', 'GET /hello');
$r = $http->get($t->url('/files/a.txt'));
is($r->{content}, 'file a', 'static file under TESTDIR');
my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two workers with master_process on');

# Reload with a new config.
$t->set(GREETING => 'reloaded')->write_config($conf)->reload;
is($http->get($t->url('/hello'))->{content}, 'reloaded', 'reload picks up the new config');
my @new = $t->worker_pids;
ok(@new == 2 && !grep({ my $w = $_; grep { $_ == $w } @workers } @new), 'reload replaced the workers');

# Restart in single-process mode.
$t->set(GREETING => 'restarted', MASTER => 'off')->write_config($conf)->restart;
is($http->get($t->url('/hello'))->{content}, 'restarted', 'restart');
is(scalar $t->worker_pids, 0, 'no workers with master_process off');

# An expected [crit] line, whitelisted.
$r = $http->get($t->url('/crit'));
is($r->{status}, 502, 'proxy to a missing unix socket');
like($t->error_log, qr/\[crit\].*missing\.sock/, 'error_log contents');
$t->allow_log(qr/missing\.sock/);

# nginx -t for directive errors.
my ($rc, $out) = $t->run_check_nginx;
is($rc, 0, 'nginx -t ok');
like($out, qr/test is successful/, 'nginx -t output');
my $t2 = OciTest::Nginx->new;
$t2->write_config("%%GLOBALS%%\nevents {}\nhttp { bogus_directive; }\n");
($rc, $out) = $t2->run_check_nginx;
is($rc, 1, 'nginx -t fails on a bad directive');
like($out, qr/unknown directive "bogus_directive"/, 'nginx -t names the directive');
eval { $t2->start };
like($@, qr/nginx failed to start.*\[emerg\].*bogus_directive/s, 'start dies with the [emerg] lines');
$t2->allow_log(qr/bogus_directive/);

# A subprocess whose log has an unexpected [crit] and a fake sanitizer report:
# both automatic checks must fail there.
my $lib = abs_path("$FindBin::Bin/../lib");
my $tmp = tempdir(CLEANUP => 1);
open my $fh, '>', "$tmp/case.t" or die;
print $fh <<"_EOT_";
use strict; use warnings; use lib '$lib'; use Test::More; use OciTest::Nginx;
my \$t = OciTest::Nginx->new;
\$t->write_config(<<'EOC')->start;
%%GLOBALS%%
master_process off;
events { worker_connections 64; }
http { %%HTTP_GLOBALS%% server { listen 127.0.0.1:%%PORT%%;
    location = /crit { proxy_pass http://unix:%%TESTDIR%%/missing.sock; } } }
EOC
\$t->http->get(\$t->url('/crit'));
\$t->http->get(\$t->url('/ERROR:%20AddressSanitizer'));
ok(1, 'requests done');
done_testing;
_EOT_
close $fh;
$out = `$^X $tmp/case.t 2>&1`;
like($out, qr/^not ok 2 - no alerts in error log$/m, 'unexpected [crit] fails "no alerts"');
like($out, qr/^not ok 3 - no sanitizer errors$/m, 'sanitizer report fails "no sanitizer errors"');
like($out, qr/^1\.\.3$/m, 'checks run before done_testing closes the plan');

done_testing();
