package BenchUtil;

# What the benchmark scripts of scripts/bench/ share (gc.pl, mirror.pl,
# nodes.pl, cluster.pl): free ports, processes killed when the script
# ends, waiting for a port, a command's output, files, medians, a
# private Redis.

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use Time::HiRes qw(sleep);

our @EXPORT_OK = qw(free_port spawn wait_port run slurp spew median
                    start_redis);

my @procs;

sub free_port { IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0)->sockport }

# runs @cmd with its output in $log; it is stopped when the script ends
sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die;
    if (!$pid) { open STDOUT, '>', $log; open STDERR, '>&', \*STDOUT;
                 exec @cmd or die "exec @cmd: $!" }
    push @procs, $pid;
    return $pid;
}

sub wait_port { my ($p) = @_; for (1 .. 200) {
    return if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p"); sleep 0.05 }
    die "nothing listens on $p\n" }
sub run { my $o = `@_ 2>&1`; die "@_ failed:\n$o" if $?; $o }
sub slurp { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; scalar <$f> }
sub spew { my ($f, $d) = @_; open my $h, '>', $f or die "$f: $!"; print $h $d; close $h }
sub median { my @v = sort { $a <=> $b } @_; @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2 }

# redis-server with its data in $dir/redis, on $dir/redis.sock and a
# free TCP port (returned), AOF everysec as conf/redis.conf
sub start_redis {
    my ($dir) = @_;
    my $port = free_port();
    mkdir "$dir/redis";
    spawn("$dir/redis.log", 'redis-server', '--unixsocket', "$dir/redis.sock",
          '--port', $port, '--bind', '127.0.0.1', '--dir', "$dir/redis",
          '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '');
    wait_port($port);
    return $port;
}

END { local $?; kill 'TERM', @procs if @procs; waitpid($_, 0) for @procs }

1;
