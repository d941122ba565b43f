package OciTest::Receiver;

# A small HTTP server for the webhook tests: it records every request it
# gets (method, path, headers, body) and answers 200, or the status the
# test sets.  A real peer on a real socket, in a process of its own, that
# a test may stop and start again on the same port.  Core Perl only.
#
#   my $rx = OciTest::Receiver->start;       # free port, temp dir
#   $rx->port;  $rx->answer(500);  $rx->answer(200);
#   my @req = $rx->requests;                 # [{method, path, headers => {lc}, body}]
#   $rx->stop;  $rx->start_again;

use strict;
use warnings;

use IO::Socket::INET ();
use File::Temp ();
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

my $MainPid = $$;

sub start {
    my ($class) = @_;
    my $self = bless {
        dir => File::Temp::tempdir('oci-receiver-XXXXXX', TMPDIR => 1,
                                   CLEANUP => 1),
    }, $class;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no port: $!";
    $self->{port} = $s->sockport;
    close $s;
    $self->answer(200);
    $self->_spawn;
    return $self;
}

sub port { $_[0]{port} }
sub url { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}" . ($path // '/') }

# the status later requests get
sub answer {
    my ($self, $status) = @_;
    open my $f, '>', "$self->{dir}/status.tmp" or die;
    print $f $status;
    close $f;
    rename "$self->{dir}/status.tmp", "$self->{dir}/status" or die;
    return $self;
}

sub requests {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/log" or return ();
    my $json = JSON::PP->new;
    return map { $json->decode($_) } <$f>;
}

sub _spawn {
    my ($self) = @_;
    my $listen;
    for (1 .. 100) {
        $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                        LocalPort => $self->{port},
                                        Listen => 16, ReuseAddr => 1)
            and last;
        sleep 0.05;
    }
    die "receiver: cannot listen on $self->{port}: $!" unless $listen;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $SIG{TERM} = sub { exit 0 };
        _serve($self->{dir}, $listen);
        exit 0;
    }
    close $listen;
    $self->{pid} = $pid;
}

sub _serve {
    my ($dir, $listen) = @_;
    my $json = JSON::PP->new->canonical;
    while (my $c = $listen->accept) {
        local $/ = "\r\n";
        my $line = <$c> // next;
        my ($method, $path) = $line =~ /^(\S+) (\S+)/ or next;
        my %h;
        while (defined(my $l = <$c>)) {
            last if $l eq "\r\n";
            $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*?)\r\n$/;
        }
        my $body = '';
        read($c, $body, $h{'content-length'}) if $h{'content-length'};
        open my $st, '<', "$dir/status";
        my $status = <$st> // 200;
        close $st;
        open my $log, '>>', "$dir/log" or die;
        print $log $json->encode({ method => $method, path => $path,
                                   headers => \%h, body => $body,
                                   status => $status + 0 }), "\n";
        close $log;
        print $c "HTTP/1.1 $status X\r\nContent-Length: 2\r\n"
               . "Connection: close\r\n\r\nok";
        close $c;
    }
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
    return $self;
}

sub start_again { $_[0]->_spawn; $_[0] }

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop if $$ == $MainPid;
}

1;
