# A blob is never stored under a digest its bytes do not have.
#
# 1. A second node in another PID namespace (containers with host
#    networking: same host name, other pids) does not take a live upload
#    lock for a dead one: its chunk gets 416 and the first node's upload
#    stays whole.
# 2. A writer whose Redis lock is taken over anyway (here a forged "dead
#    holder") keeps its file: the taker gets 416 before it touches the
#    file, and what gets committed is the writer's bytes.
# 3. A damaged blob file already in blobs/ (zeros of the right size, or
#    cut short as a crash with oci_registry_durable off may leave it) is
#    replaced by the next push of that blob, whichever way it is pushed,
#    instead of being kept for good.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_redis registry_config sha256 start_upload
                         push_blob half_sent);

my $tmp = tempdir(CLEANUP => 1);
my $storage = "$tmp/storage";
my $redis = registry_redis();

sub node {
    my (%opt) = @_;
    my $t = OciTest::Nginx->new(%opt);
    $t->set(STORAGE => $storage, REDIS => $redis->port);
    $t->write_config(registry_config());
    $t->start;
    return $t;
}

sub bytes_of { my ($seed, $n) = @_; substr(join('', map { sha256("$seed.$_") } 1 .. $n / 71 + 1), 0, $n) }

sub blob_file {
    my ($d) = @_;
    my $hex = substr($d, 7);
    return "$storage/blobs/sha256/" . substr($hex, 0, 2) . "/$hex";
}

sub file_digest {
    my ($path) = @_;
    open my $f, '<', $path or return '';
    binmode $f;
    my $sha = Digest::SHA->new(256);
    $sha->addfile($f);
    return 'sha256:' . $sha->hexdigest;
}

my $a = node();
my $http = $a->http;

# --- 1. a node in another PID namespace, same host name

SKIP: {
    skip 'unshare --pid needs root', 6 if $> != 0;
    system('unshare --pid --fork true 2>/dev/null') == 0
        or skip 'unshare --pid is not available here', 6;

    my $b = node(wrapper => [qw(unshare --pid --fork --kill-child)]);

    my $blob = bytes_of('ns', 1_000_000 + 20 * 1024 * 1024);
    my $loc = start_upload($a, 'int/ns');
    my $r = $http->request('PATCH', $a->url($loc),
        { content => substr($blob, 0, 1_000_000),
          headers => { 'Content-Range' => '0-999999' } });
    is($r->{status}, 202, 'node A: a first chunk of 1000000 bytes');

    my $finish = half_sent($a, "PUT $loc?digest=" . sha256($blob),
                           substr($blob, 1_000_000));
    $r = $http->request('PATCH', $b->url($loc),
        { content => 'x' x 10,
          headers => { 'Content-Range' => '1000000-1000009' } });
    is($r->{status}, 416,
       'node B, another PID namespace: a chunk during A\'s closing PUT is 416');
    unlike($b->error_log, qr/taking over/, '  B did not take the lock as a dead holder\'s');

    is(($finish->())[0], 201, 'node A: the closing PUT completes: 201');
    $r = $http->get($a->url('/v2/int/ns/blobs/' . sha256($blob)));
    ok($r->{status} == 200 && $r->{content} eq $blob, 'the blob reads back whole');
    is(file_digest(blob_file(sha256($blob))), sha256($blob),
       'the file in blobs/ hashes to its name');
    $b->stop;
}

# --- 2. a live writer whose Redis lock was taken over anyway

{
    my $b = node();
    my $blob = bytes_of('steal', 1_000_000 + 8 * 1024 * 1024);
    my $loc = start_upload($a, 'int/steal');
    my $id = (split m{/}, $loc)[-1];
    my $r = $http->request('PATCH', $a->url($loc),
        { content => substr($blob, 0, 1_000_000),
          headers => { 'Content-Range' => '0-999999' } });
    is($r->{status}, 202, 'node A: a first chunk');

    my $finish = half_sent($a, "PUT $loc?digest=" . sha256($blob),
                           substr($blob, 1_000_000));
    my $key = "oci:{int/steal}:upload:$id:lock";
    my $token = $redis->cmd('GET', $key) // '';
    like($token, qr/^[^:]+:\d+:/, "A's lock token names its process: $token");

    # the same identity, a pid that does not exist: "a dead holder"
    my $dead = 4_000_000;
    $dead++ while kill(0, $dead) || $!{EPERM};
    (my $forged = $token) =~ s/^([^:]+):\d+:/$1:$dead:/;
    $redis->cmd('SET', $key, $forged);

    $r = $http->request('PATCH', $b->url($loc),
        { content => 'x' x 10,
          headers => { 'Content-Range' => '1000000-1000009' } });
    is($r->{status}, 416, 'node B takes the "dead" lock but not the live file: 416');
    like($b->error_log, qr/taking over/, '  (B did take the Redis lock over)');

    my ($st) = $finish->();
    ok($st == 201 || $st == 416, "node A's closing PUT: $st (201, or 416 for its lost lock)");
    my $file = blob_file(sha256($blob));
    ok(!-e $file || file_digest($file) eq sha256($blob),
       'nothing in blobs/ under that digest but its bytes');
    $b->stop;
}

# --- 3. a damaged blob file is replaced by the next push

my @ways = (
    [ 'a monolithic POST', sub { push_blob($a, 'int/b', $_[0])->{status} } ],
    [ 'PATCH then PUT', sub {
        my ($bytes) = @_;
        my $loc = start_upload($a, 'int/b') or return 0;
        my $r = $http->request('PATCH', $a->url($loc),
            { content => $bytes, headers => { 'Content-Range' => '0-' . (length($bytes) - 1) } });
        return $r->{status} unless $r->{status} == 202;
        return $http->request('PUT', $a->url("$loc?digest=" . sha256($bytes)))->{status};
    } ],
    [ 'POST then a whole-blob PUT', sub {
        my ($bytes) = @_;
        my $loc = start_upload($a, 'int/b') or return 0;
        return $http->request('PUT', $a->url("$loc?digest=" . sha256($bytes)),
                              { content => $bytes })->{status};
    } ],
);

for my $i (0 .. $#ways) {
    my ($how, $push) = @{ $ways[$i] };
    for my $damage ('zeros', 'short') {
        my $blob = bytes_of("dmg$i$damage", 30_000);
        my $d = sha256($blob);
        is(push_blob($a, 'int/a', $blob)->{status}, 201, "$how, $damage: first push");
        my $file = blob_file($d);
        open my $f, '+<', $file or die "$file: $!";
        binmode $f;
        if ($damage eq 'zeros') {
            print $f "\0" x length $blob;
        } else {
            truncate $f, length($blob) / 2;
        }
        close $f;
        isnt(file_digest($file), $d, "  the file is damaged ($damage)");
        is($push->($blob), 201, "  pushed again by $how: 201");
        is(file_digest($file), $d, '  the file hashes to its name again');
        my $r = $http->get($a->url("/v2/int/a/blobs/$d"));
        ok($r->{content} eq $blob, '  and the first repository reads it whole');
    }
}

like($a->error_log, qr/did not hash to its name, replaced by this upload/,
     'each replacement is logged');

done_testing;
