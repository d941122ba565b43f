# Hostile input: traversal in every path component and in query
# arguments, NUL bytes, oversized names, tags and headers, absurd
# manifests, and slow clients.  Each gets a spec status, no worker
# crashes, and no file is created outside the storage root.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Find;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob start_upload put_manifest);

my $tmp = tempdir(CLEANUP => 1);
my $storage = "$tmp/root/storage";
mkdir "$tmp/root";
mkdir $storage;
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config(workers => 1));
$t->start;
my @workers = $t->worker_pids;

# raw requests: the path goes out exactly as written
sub raw {
    my ($req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 5)
        or die "connect: $!";
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    my ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    my ($body) = $resp =~ /\r\n\r\n(.*)\z/s;
    return ($status // 0, $body // '');
}

sub get { raw("GET $_[0] HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }

my $d = sha256('x');
my @cases = (
    # path, expected status, expected OCI code (or undef: nginx answers
    # itself, e.g. a %00 in the path or a path that ".." takes out of /v2/)
    [ '/v2/../../etc/passwd', 400, undef ],
    [ '/v2/a/../../../etc/tags/list', 400, undef ],
    [ '/v2/%2e%2e/%2e%2e/etc/tags/list', 400, undef ],
    [ '/v2/a%2f..%2f..%2fb/tags/list', 404, undef ],
    [ '/v2/a/b%00c/tags/list', 400, undef ],
    [ '/v2/a/manifests/..', 404, 'NOT_FOUND' ],
    [ '/v2/a/manifests/.x', 404, 'MANIFEST_UNKNOWN' ],
    [ '/v2/a/manifests/t%00g', 400, undef ],
    [ '/v2/a/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd', 404, 'NOT_FOUND' ],
    [ '/v2/a/blobs/sha256:' . ('a' x 63) . '%00', 400, undef ],
    [ '/v2/a/blobs/uploads/..%2f..%2f..%2fetc%2fpasswd', 404, 'NOT_FOUND' ],
    [ '/v2/a/blobs/uploads/00000000-0000-4000-8000-00000000000%00', 400, undef ],
    [ '/v2/a/tags/list?last=a%00b', 400, 'TAG_INVALID' ],
    [ '/v2/' . ('a' x 300) . '/tags/list', 400, 'NAME_INVALID' ],
    [ '/v2/a/manifests/' . ('t' x 200), 404, 'MANIFEST_UNKNOWN' ],
    [ '/v2/a/tags/list?n=-5', 400, 'PAGINATION_NUMBER_INVALID' ],
    [ '/v2/a/tags/list?n=' . ('9' x 40), 400, 'PAGINATION_NUMBER_INVALID' ],
    [ '/v2/a/tags/list?last=..%2f..', 400, 'TAG_INVALID' ],
    [ '/v2/_catalog?last=..%2F..', 400, 'NAME_INVALID' ],
    [ "/v2/a/referrers/$d?last=..%2f", 400, 'DIGEST_INVALID' ],
);
for my $c (@cases) {
    my ($status, $body) = get($c->[0]);
    is($status, $c->[1], "GET $c->[0]: $c->[1]");
    if (defined $c->[2]) {
        my $code = eval { decode_json($body)->{errors}[0]{code} } // '';
        is($code, $c->[2], "  with $c->[2]");
    }
}

# query arguments that name paths
for my $q ("?mount=$d&from=..%2F..%2Fetc", '?digest=sha256:..%2F..%2Fx',
           '?mount=..%2F..%2Fetc%2Fpasswd&from=a') {
    my ($status, $body) = raw("POST /v2/a/blobs/uploads/$q HTTP/1.1\r\nHost: x\r\n"
                              . "Content-Length: 0\r\nConnection: close\r\n\r\n");
    is($status, 400, "POST uploads/$q: 400");
}

# oversized headers: nginx refuses them before we see the request
my ($status) = raw("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " . ('h' x (10 * 1024 * 1024))
                   . "\r\nConnection: close\r\n\r\n");
ok($status == 400 || $status == 494 || $status == 0, "a 10 MB header is refused ($status)");

# absurd manifests
my $cfg = push_blob($t, 'h/app', '{}');
my $deep = ('[' x 100_000) . (']' x 100_000);
my $r = put_manifest($t, 'h/app', 'deep', $deep);
is($r->{status}, 400, 'a manifest nested 100000 deep: 400');
like($r->{content}, qr/nested too deeply/, '  MANIFEST_INVALID, nesting');

my $layer = '{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"'
    . sha256('{}') . '","size":2}';
sub layers { '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":' . $layer . ',"layers":[' . join(',', ($layer) x $_[0]) . ']}' }
$r = put_manifest($t, 'h/app', 'many', layers(100_000));
is($r->{status}, 413, 'a manifest with 100000 layers (15 MB): 413 before it is read');
$r = put_manifest($t, 'h/app', 'many', layers(10_001));
is($r->{status}, 400, 'one with 10001 layers (1.5 MB): 400');
like($r->{content}, qr/too many/, '  MANIFEST_INVALID, too many references');

$r = put_manifest($t, 'h/app', 'dup',
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":' . $layer . ',"layers":[],"layers":[' . $layer . ']}');
is($r->{status}, 400, 'duplicate keys: 400');

# slow clients hold only their own connection
my $blob = 'B' x (8 * 1024 * 1024);
push_blob($t, 'h/app', $blob);
my $loc = start_upload($t, 'h/app');
my $trickle = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die;
print $trickle "PATCH $loc HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab";
my $reader = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die;
print $reader 'GET /v2/h/app/blobs/' . sha256($blob) . " HTTP/1.1\r\nHost: x\r\n\r\n";
sleep 0.3;
my $t0 = time;
my $ok = 0;
for (1 .. 20) {
    $ok++ if $t->http->get($t->url('/v2/h/app/blobs/' . sha256('{}')))->{status} == 200;
}
is($ok, 20, 'twenty pulls succeed beside a trickling upload and a stalled reader');
cmp_ok(time - $t0, '<', 5, 'without waiting for them');
close $trickle;
close $reader;

is_deeply([ $t->worker_pids ], \@workers, 'the worker survived everything');

# nothing was created outside the storage root
my @outside;
find(sub { push @outside, $File::Find::name
               unless $File::Find::name =~ m{^\Q$storage\E} }, "$tmp/root");
is_deeply(\@outside, [ "$tmp/root" ], 'no file outside the storage root');

$t->stop;
$t->check_logs;
done_testing();
