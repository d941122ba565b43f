package OciTest::Redis;

# A private redis-server for tests that must stop or kill Redis, plus a
# tiny blocking RESP client.  Core Perl only.
#
#   my $r = OciTest::Redis->start;          # free port, temp dir
#   $t->set(REDIS_PORT => $r->port);        # for OciTest::Nginx templates
#   $r->cmd(qw(SET k v));  $r->cmd('KEYS', '*');   # parsed replies
#   $r->kill9;  ...  $r->start_again;       # same port and dir
#   $r->stop;
#   my $s = OciTest::Redis->start(sentinel => "sentinel monitor m ...\n");
#                                           # redis-sentinel with that config
#
#   # the shared test Redis (scripts/test.sh), e.g. in add_block_preprocessor:
#   OciTest::Redis::command($ENV{TEST_NGINX_REDIS_PORT}, 'FLUSHDB');
#
# Replies: status -> string ("OK"), integer -> number, bulk -> string or
# undef, array -> arrayref; an error reply dies with "redis error: ...".

use strict;
use warnings;

use IO::Socket::INET ();
use File::Temp ();
use File::Path qw(remove_tree);
use POSIX qw(WNOHANG);
use Scalar::Util ();
use Time::HiRes qw(sleep time);

my $MainPid = $$;
my @LIVE;

# Path of redis-server (OCI_TEST_REDIS_SERVER or PATH), or undef: tests
# use it to skip_all.
sub available {
    my $bin = $ENV{OCI_TEST_REDIS_SERVER} || 'redis-server';
    return -x $bin ? $bin : undef if $bin =~ m{/};
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$bin" if -x "$d/$bin";
    }
    return undef;
}

# Path of redis-sentinel (Debian's redis-sentinel package), or undef.
sub sentinel_available {
    local $ENV{OCI_TEST_REDIS_SERVER} = 'redis-sentinel';
    return available();
}

# start(%opt): port (default: a free one), dir (default: a temp dir,
# removed at the end), args (extra redis-server arguments), binary,
# password (required by the server, and by its replicas of a master);
# sentinel: the text of a sentinel configuration, to run redis-sentinel
# with it (which rewrites the file, so start_again keeps what it learnt).
sub start {
    my ($class, %opt) = @_;
    my $bin = $opt{binary}
        || ($opt{sentinel} ? sentinel_available() : available())
        or die "redis-server not found\n";
    my $dir = $opt{dir};
    my $own_dir = !$dir;
    $dir ||= File::Temp::tempdir('oci-redis-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    my $self = bless {
        binary  => $bin,
        dir     => $dir,
        own_dir => $own_dir,
        port    => $opt{port} || _free_port(),
        args    => [ @{ $opt{args} || [] },
                     defined $opt{password}
                     ? ('--requirepass', $opt{password},
                        '--masterauth', $opt{password}) : () ],
        password => $opt{password},
        owner   => $$,
    }, $class;
    if (defined $opt{sentinel}) {
        $self->{conf} = "$dir/sentinel.conf";
        open my $fh, '>', $self->{conf} or die "$self->{conf}: $!";
        print $fh $opt{sentinel};
        close $fh;
    }
    push @LIVE, $self;
    Scalar::Util::weaken($LIVE[-1]);
    return $self->_spawn;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub pid  { $_[0]{pid} }

sub _free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub _spawn {
    my ($self) = @_;
    die "redis-server is already running (pid $self->{pid})\n" if $self->{pid};
    my @cmd = ($self->{binary}, '--port', $self->{port}, '--bind', '127.0.0.1',
               '--save', '', '--appendonly', 'no', '--dir', $self->{dir},
               '--daemonize', 'no', '--logfile', "$self->{dir}/redis.log",
               @{ $self->{args} });
    @cmd = ($self->{binary}, $self->{conf}, '--port', $self->{port},
            '--bind', '127.0.0.1', '--dir', $self->{dir}, '--daemonize', 'no',
            '--logfile', "$self->{dir}/redis.log", @{ $self->{args} })
        if $self->{conf};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.stdout";
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "redis-server failed to start (status $?):\n" . $self->_log_tail;
        }
        my $pong = eval { $self->cmd('PING') };
        return $self if defined $pong && $pong eq 'PONG';
        sleep 0.02;
    }
    $self->kill9;
    die "redis-server did not answer PING on port $self->{port} within 5 s:\n" . $self->_log_tail;
}

sub _log_tail {
    my ($self) = @_;
    my @lines;
    for my $f ("$self->{dir}/redis.log", "$self->{dir}/redis.stdout") {
        open my $fh, '<', $f or next;
        push @lines, <$fh>;
    }
    return join '', @lines[($#lines > 19 ? $#lines - 19 : 0) .. $#lines];
}

# Start again on the same port and dir (after stop or kill9).
sub start_again { $_[0]->_spawn }

sub _wait_exit {
    my ($self, $pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    return 0;
}

# SIGTERM and wait (SIGKILL after 5 s).
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return $self;
    kill 'TERM', $pid;
    if (!$self->_wait_exit($pid, 5)) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    return $self;
}

# SIGKILL: Redis disappears without any shutdown work.
sub kill9 {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return $self;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $self;
}

# With a password (start's "password", which also makes the server
# require it), each command is sent after an AUTH on its connection.
sub cmd {
    my ($self, @args) = @_;
    return command($self->{port}, @args) unless defined $self->{password};
    return _command($self->{port}, [ 'AUTH', $self->{password} ], \@args);
}

# command($port, @args): one command on a fresh connection to 127.0.0.1.
sub command {
    my ($port, @args) = @_;
    return _command($port, \@args);
}

# the commands on one connection, pipelined: the last one's reply
sub _command {
    my ($port, @cmds) = @_;
    die "OciTest::Redis::command: no port\n" unless $port;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5)
        or die "cannot connect to redis on port $port: $!\n";
    my $req = '';
    for my $args (@cmds) {
        $req .= '*' . scalar(@$args) . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for map { $_ // '' } @$args;
    }
    print {$sock} $req or die "redis write failed: $!\n";
    my $reply;
    $reply = _read_reply($sock) for @cmds;
    close $sock;
    return $reply;
}

sub _read_line {
    my ($sock) = @_;
    local $/ = "\r\n";
    my $line = <$sock>;
    die "redis connection closed\n" unless defined $line;
    chomp $line;
    return $line;
}

sub _read_reply {
    my ($sock) = @_;
    my $line = _read_line($sock);
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    die "redis error: $rest\n" if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $data = '';
        while (length $data < $rest + 2) {
            my $n = read($sock, $data, $rest + 2 - length $data, length $data);
            die "redis connection closed\n" unless $n;
        }
        return substr($data, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { _read_reply($sock) } 1 .. $rest];
    }
    die "bad redis reply: $line\n";
}

sub _cleanup {
    my ($self) = @_;
    return if $self->{cleaned}++ || $$ != $self->{owner};
    $self->stop;
    remove_tree($self->{dir}) if $self->{own_dir} && !$ENV{OCI_TEST_KEEP};
}

sub DESTROY { local ($?, $@, $!); $_[0]->_cleanup }

END {
    if ($$ == $MainPid) {
        local $?;
        $_->_cleanup for grep { defined } @LIVE;
    }
}

1;
