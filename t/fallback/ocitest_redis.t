# Self-test of t/lib/OciTest/Redis.pm (skipped without redis-server).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use OciTest::Redis;

plan skip_all => 'redis-server not found' unless OciTest::Redis::available();

my $r = OciTest::Redis->start;
like($r->port, qr/^\d+$/, 'port');
ok(-d $r->dir, 'private dir');
is($r->cmd('PING'), 'PONG', 'status reply');
is($r->cmd(qw(SET k1 v1)), 'OK', 'SET');
is($r->cmd(qw(GET k1)), 'v1', 'bulk reply');
is($r->cmd(qw(GET nope)), undef, 'nil reply');
is($r->cmd(qw(INCR n)), 1, 'integer reply');
$r->cmd('SET', "bin\r\nkey", "a\r\nb\0c");
is($r->cmd('GET', "bin\r\nkey"), "a\r\nb\0c", 'binary-safe values');
is_deeply([sort @{ $r->cmd('KEYS', '*') }], ["bin\r\nkey", 'k1', 'n'], 'array reply');
eval { $r->cmd('NOSUCHCOMMAND') };
like($@, qr/^redis error: ERR/, 'error reply dies');
is(OciTest::Redis::command($r->port, 'DBSIZE'), 3, 'command($port, ...)');
is(OciTest::Redis::command($r->port, 'FLUSHDB'), 'OK', 'FLUSHDB');
is($r->cmd('DBSIZE'), 0, 'flushed');
is_deeply(OciTest::Redis::command($r->port, 'MGET', 'a', 'b'), [undef, undef], 'nils in an array');

# Kill and restart on the same port and dir.
my $port = $r->port;
$r->cmd(qw(SET gone soon));
$r->kill9;
ok(!$r->pid, 'killed');
eval { $r->cmd('PING') };
like($@, qr/cannot connect/, 'no Redis after kill9');
$r->start_again;
is($r->port, $port, 'same port');
is($r->cmd('PING'), 'PONG', 'answers again');
is($r->cmd(qw(GET gone)), undef, 'no persistence (--save "" --appendonly no)');
$r->stop;
eval { $r->cmd('PING') };
like($@, qr/cannot connect/, 'stopped with SIGTERM');
$r->start_again;
is($r->cmd('PING'), 'PONG', 'started again after stop');

# Extra arguments.
my $r2 = OciTest::Redis->start(args => ['--databases', '2']);
is_deeply($r2->cmd(qw(CONFIG GET databases)), ['databases', '2'], 'extra args');
isnt($r2->port, $r->port, 'another port');

done_testing();
