package OciTest::Nginx;

# Imperative nginx helper for flow tests (t/flow/*.t), in the spirit of
# nginx-tests' lib/Test/Nginx.pm but our own: Test::More + HTTP::Tiny only.
#
#   my $t = OciTest::Nginx->new;
#   $t->write_config(<<'EOF')->start;
#   %%GLOBALS%%
#   master_process off;
#   events { worker_connections 64; }
#   http {
#       %%HTTP_GLOBALS%%
#       server { listen 127.0.0.1:%%PORT%%; location / { return 200 "ok"; } }
#   }
#   EOF
#   my $r = $t->http->get($t->url('/'));
#   is($r->{status}, 200);
#   done_testing;     # "no alerts" and "no sanitizer errors" are added here
#
# API:
#   new(%opt)            temp dir with logs/ and *_temp/; opt: binary, port,
#                        modules (arrayref of .so), keep, wrapper (a command
#                        nginx runs under, e.g. [qw(unshare --pid --fork)];
#                        stop then signals its whole process group), user
#                        (the "user" directive of GLOBALS as root; default
#                        "root", '' for none: nginx's default user)
#   port dir pid url($path) http(%tiny_opts) error_log worker_pids
#   set(NAME => value)   extra %%NAME%% placeholders
#   write_config($tpl)   -> <dir>/nginx.conf; placeholders: %%PORT%% %%TESTDIR%%
#       %%LOAD_MODULE%% %%REDIS_PORT%% %%GLOBALS%% (daemon off, pid, error_log
#       debug, "user root" when root, load_module lines unless the template
#       has %%LOAD_MODULE%%) %%HTTP_GLOBALS%% (access_log, *_temp_path,
#       default_type); an unknown %%X%% dies
#   write_file($rel, $data)
#   start stop restart reload   (start dies with the [emerg] lines)
#   run_check_nginx(@args)      -> (exit code, output) of nginx -t
#   allow_log(qr/../)           whitelist lines for the alerts check
#   check_logs                  "no alerts in error log", "no sanitizer errors"
#   plan($n)                    plan tests => $n + 2
#
# Environment: TEST_NGINX_BINARY (default /usr/sbin/nginx),
# TEST_NGINX_LOAD_MODULES (space-separated .so paths), TEST_NGINX_REDIS_PORT,
# OCI_TEST_SANITIZE (LD_PRELOAD list for nginx), OCI_TEST_KEEP=1 (keep the dir).

use strict;
use warnings;

use Test::More ();
use Test2::API ();
use HTTP::Tiny ();
use IO::Socket::INET ();
use File::Temp ();
use File::Path qw(make_path remove_tree);
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);

my @TEMP_PATHS = qw(client_body proxy fastcgi scgi uwsgi);
my @LIVE;               # weak refs to every instance, for the end-of-test checks
my $MainPid = $$;

# nginx runs in its own process group (so stop can KILL its workers too):
# turn Ctrl-C / SIGTERM into exit() so the END cleanup still stops it.
for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub { exit 128 + ($sig eq 'INT' ? 2 : 15) }
        if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
}

# The log checks must run before done_testing() closes the plan: hook
# Test2's "testing done" (done_testing, or END with no_plan).
Test2::API::test2_add_callback_testing_done(sub {
    for my $t (grep { defined } @LIVE) {
        $t->check_logs unless $t->{checked};
    }
});

sub new {
    my ($class, %opt) = @_;
    my $dir = File::Temp::tempdir('oci-nginx-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    make_path("$dir/logs", map { "$dir/${_}_temp" } @TEMP_PATHS);
    my $self = bless {
        dir     => $dir,
        binary  => $opt{binary} || $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        port    => $opt{port} || free_port(),
        modules => $opt{modules} // [split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // ''],
        keep    => $opt{keep} // $ENV{OCI_TEST_KEEP},
        wrapper => $opt{wrapper} || [],
        user    => $opt{user} // 'root',
        vars    => {},
        allow   => [],
        owner   => $$,
    }, $class;
    push @LIVE, $self;
    weaken($LIVE[-1]);
    return $self;
}

# A free TCP port on 127.0.0.1 (bind to port 0).  Also a class function.
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub url  { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}" . ($path // '/') }

# An HTTP::Tiny without keep-alive or redirects (tests see raw 3xx).
sub http {
    my ($self, %opt) = @_;
    return HTTP::Tiny->new(keep_alive => 0, timeout => 10, max_redirect => 0, %opt);
}

# Extra %%NAME%% placeholders for write_config.
sub set {
    my ($self, %vars) = @_;
    @{ $self->{vars} }{ keys %vars } = values %vars;
    return $self;
}

# Lines matching these do not count in the "no alerts" check.
sub allow_log {
    my ($self, @re) = @_;
    push @{ $self->{allow} }, @re;
    return $self;
}

sub _load_modules { join '', map { "load_module $_;\n" } @{ $_[0]{modules} } }

# Expand the template into <dir>/nginx.conf.  An unknown %%X%% dies.
sub write_config {
    my ($self, $tpl) = @_;
    my $dir = $self->{dir};
    my %v = (
        PORT         => $self->{port},
        TESTDIR      => $dir,
        LOAD_MODULE  => $self->_load_modules,
        # "user root" as root: workers (master_process on) can then use the
        # 0700 temp dir.  master_process itself is left to the template.
        GLOBALS      => "daemon off;\npid $dir/nginx.pid;\nerror_log $dir/logs/error.log debug;\n"
                        . ($> == 0 && $self->{user} ne '' ? "user $self->{user};\n" : '')
                        . ($tpl =~ /%%LOAD_MODULE%%/ ? '' : $self->_load_modules),
        HTTP_GLOBALS => "access_log $dir/logs/access.log;\n"
                        . join('', map { "${_}_temp_path $dir/${_}_temp;\n" } @TEMP_PATHS)
                        . "default_type text/plain;\n",
        (defined $ENV{TEST_NGINX_REDIS_PORT} ? (REDIS_PORT => $ENV{TEST_NGINX_REDIS_PORT}) : ()),
        %{ $self->{vars} },
    );
    (my $conf = $tpl) =~ s{%%(\w+)%%}{
        defined $v{$1} ? $v{$1}
            : die $1 eq 'REDIS_PORT' ? "%%REDIS_PORT%% needs TEST_NGINX_REDIS_PORT or ->set(REDIS_PORT => ...)\n"
                                     : "unknown placeholder %%$1%% in the nginx config template\n"
    }ge;
    $self->write_file('nginx.conf', $conf);
    return $self;
}

# Write a file under the test dir (creating directories).
sub write_file {
    my ($self, $name, $data) = @_;
    my $path = "$self->{dir}/$name";
    make_path($1) if $path =~ m{(.*)/} && !-d $1;
    open my $fh, '>', $path or die "cannot write $path: $!";
    binmode $fh;
    print $fh $data;
    close $fh;
    return $path;
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

sub error_log { _slurp("$_[0]{dir}/logs/error.log") }

sub _can_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 0.5) or return 0;
    close $s;
    return 1;
}

sub _emerg_lines {
    my ($self) = @_;
    my @lines = grep { /\[(?:emerg|alert|crit)\]/ }
        map { split /^/m, _slurp($_) } "$self->{dir}/logs/error.log", "$self->{dir}/logs/stderr.log";
    return @lines ? join('', @lines) : "(no [emerg] lines; see $self->{dir}/logs)\n";
}

# Fork+exec nginx in the foreground; wait until it listens (5 s).
sub start {
    my ($self) = @_;
    die "nginx is already running (pid $self->{pid})\n" if $self->{pid};
    my $dir = $self->{dir};
    die "no nginx.conf: call write_config first\n" unless -f "$dir/nginx.conf";
    my @cmd = (@{ $self->{wrapper} }, $self->{binary}, '-p', "$dir/",
               '-c', "$dir/nginx.conf", '-e', "$dir/logs/error.log");
    unlink "$dir/nginx.pid";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        if (my $preload = $ENV{OCI_TEST_SANITIZE}) {
            $ENV{LD_PRELOAD} = $preload;
            $ENV{ASAN_OPTIONS} //= 'detect_leaks=0';
        }
        exec { $cmd[0] } @cmd or print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "nginx failed to start (status $?):\n" . $self->_emerg_lines;
        }
        if (_can_connect($self->{port})) {
            # the master listens before it has started its workers: a
            # test that counts them must find them
            my $conf = _slurp("$dir/nginx.conf") // '';
            return $self unless $conf =~ /^\s*master_process\s+on\s*;/m;
            my ($n) = $conf =~ /^\s*worker_processes\s+(\d+)\s*;/m;
            $n //= 1;
            while (time < $deadline) {
                return $self if $self->worker_pids >= $n;
                sleep 0.02;
            }
            last;
        }
        sleep 0.02;
    }
    $self->stop;
    die "nginx did not listen on port $self->{port} (or start its workers) "
        . "within 5 s:\n" . $self->_emerg_lines;
}

# QUIT, wait up to 5 s, then KILL the process group.  An nginx that had
# already exited (crash) is remembered for check_logs.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return $self;
    if (waitpid($pid, WNOHANG) == $pid) {
        push @{ $self->{crashes} }, "nginx $pid exited unexpectedly (status $?)";
        return $self;
    }
    # under a wrapper the master is not our child: signal the group
    kill 'QUIT', @{ $self->{wrapper} } ? -$pid : $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        return $self if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    Test::More::diag("nginx $pid did not exit within 5 s; killing it");
    kill 'KILL', -$pid;
    waitpid($pid, 0);
    return $self;
}

sub restart { $_[0]->stop->start }

# kill -9 the master and its workers at once, as a machine crash would;
# deliberate, so not reported by check_logs.  Returns the pids killed.
sub kill9 {
    my ($self) = @_;
    my $pid = $self->{pid} or return ();
    my @pids = ($pid, $self->worker_pids);
    kill 'KILL', @pids;
    waitpid($pid, 0);
    delete $self->{pid};
    return @pids;
}

# HUP and wait until nginx logged the reload (and, with master_process on,
# new workers replaced the old ones).
sub reload {
    my ($self) = @_;
    my $pid = $self->{pid} or die "nginx is not running\n";
    my $log = "$self->{dir}/logs/error.log";
    my $offset = -s $log || 0;
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        my $new = substr(_slurp($log), $offset);
        my @workers = $self->worker_pids;
        last if $new =~ /reconfiguring/ && (!%old || (@workers && !grep { $old{$_} } @workers));
        sleep 0.05;
    }
    sleep 0.1;
    return $self;
}

# Children of the master (with master_process on), from /proc.
sub worker_pids {
    my ($self) = @_;
    my $master = $self->{pid};
    my @pids;
    for my $stat ($master ? glob('/proc/[0-9]*/stat') : ()) {
        # a process may exit between the glob and the read
        my $s = _slurp($stat) // next;
        # "pid (comm) state ppid ..."; comm may contain spaces or parens.
        next unless $s =~ /^(\d+) \(.*\) \S+ (\d+) /s;
        push @pids, $1 if $2 == $master;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;           # a count in scalar context
}

# Run "nginx -t" on the current nginx.conf (for directive-error tests).
# Returns (exit code, combined output).  Startup errors go to
# logs/check.log so they do not trip the "no alerts" check.
sub run_check_nginx {
    my ($self, @args) = @_;
    my $dir = $self->{dir};
    my @cmd = ($self->{binary}, '-t', '-p', "$dir/", '-c', "$dir/nginx.conf",
               '-e', "$dir/logs/check.log", @args);
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or print "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($? >> 8, $out);
}

# Two tests: "no alerts in error log" and "no sanitizer errors".  Runs by
# itself before done_testing (or at the end with no_plan); with an explicit
# plan count 2 per instance, or use $t->plan(N).
sub check_logs {
    my ($self) = @_;
    $self->{checked} = 1;
    $self->stop;
    my $dir = $self->{dir};
    my $err = _slurp("$dir/logs/error.log");
    my @alerts = grep {
        my $line = $_;
        $line =~ /\[(?:alert|crit|emerg)\]/ && !grep { $line =~ $_ } @{ $self->{allow} }
    } split /^/m, $err;
    push @alerts, map { "$_\n" } @{ $self->{crashes} || [] };
    Test::More::ok(!@alerts, 'no alerts in error log')
        or Test::More::diag(join '', @alerts[0 .. ($#alerts < 19 ? $#alerts : 19)]);

    my @san;
    for my $text (_slurp("$dir/logs/stderr.log"), $err) {
        my @lines = split /^/m, $text;
        for my $i (0 .. $#lines) {
            next unless $lines[$i] =~ /ERROR: \w*Sanitizer|runtime error:/;
            my $end = $i + 40 < $#lines ? $i + 40 : $#lines;
            push @san, join '', @lines[$i .. $end];
            last;
        }
    }
    Test::More::ok(!@san, 'no sanitizer errors') or Test::More::diag(join "\n", @san);
    return $self;
}

# plan(N): N tests of yours plus the 2 log checks.
sub plan {
    my ($self, $n) = @_;
    Test::More::plan(tests => $n + 2);
    return $self;
}

sub _cleanup {
    my ($self) = @_;
    return if $self->{cleaned}++ || $$ != $self->{owner};
    $self->stop;
    if ($self->{keep}) {
        Test::More::diag("OCI_TEST_KEEP: kept $self->{dir}");
    } else {
        remove_tree($self->{dir});
    }
}

# An instance that goes away before the end of the test checks its logs
# then (not during global destruction, when testing is already over).
sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->check_logs
        unless $self->{checked} || $$ != $self->{owner} || ${^GLOBAL_PHASE} eq 'DESTRUCT'
            || Test2::API::test2_is_testing_done();
    $self->_cleanup;
}

END {
    if ($$ == $MainPid) {
        local $?;
        $_->_cleanup for grep { defined } @LIVE;
    }
}

1;
