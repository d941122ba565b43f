# Pull-through mirrors against real upstreams: Debian's docker-registry,
# open and with htpasswd Basic auth, seeded by skopeo with images umoci
# built.  By prefix, by containerd's ?ns= and as the default; skopeo
# through the mirror; the cache served with the upstream gone; a stale
# tag with a Warning; wrong bytes and a killed upstream never stored; 16
# concurrent cold pulls of one 64 MiB blob cost one upstream GET.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Upstream;
use OciTest::Registry qw(registry_config registry_redis);
use OciTest::Auth qw(auth_setup auth_config);
use OciTest::Images qw(run build_image layout_manifest read_blob have
                       make_index);

plan skip_all => 'docker-registry, skopeo and umoci are needed '
               . '(scripts/bootstrap --test)'
    unless OciTest::Upstream->available && have('skopeo') && have('umoci')
           && have('htpasswd');

my $tmp = tempdir(CLEANUP => 1);
my $redis = registry_redis();
my $storage = "$tmp/storage";
mkdir $storage;

my $open = OciTest::Upstream->start();
my $basic = OciTest::Upstream->start(user => 'mirror', password => 's3cret');

# our own registry with token auth: the Bearer flow Docker Hub uses
my $redis2 = OciTest::Redis->start();
my $tok = OciTest::Nginx->new();
mkdir "$tmp/tokstore";
$tok->set(STORAGE => "$tmp/tokstore", REDIS => $redis2->port,
          AUTH => auth_setup("$tmp/auth"));
$tok->write_config(auth_config(private => 1));
$tok->start;

# a rate-limited front of the open upstream, as Docker Hub is: one
# request a minute, then 429 with Retry-After (stock nginx, limit_req)
my $front = OciTest::Nginx->new();
my $cdn_port = OciTest::Nginx::free_port();
$front->set(UP => $open->port, CDN => $cdn_port);
$front->write_config(<<'EOF2');
%%GLOBALS%%
master_process off;
events { worker_connections 64; }
http {
    %%HTTP_GLOBALS%%
    limit_req_zone $server_port zone=one:1m rate=1r/m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            limit_req zone=one;
            limit_req_status 429;
            add_header Retry-After 60 always;
            proxy_pass http://127.0.0.1:%%UP%%;
        }
    }
    # as Docker Hub does: blobs are a redirect to another host (a CDN)
    server {
        listen 127.0.0.1:%%CDN%%;
        location ~ ^/v2/.+/blobs/ {
            return 307 http://127.0.0.1:%%UP%%$request_uri;
        }
        location / {
            proxy_pass http://127.0.0.1:%%UP%%;
        }
    }
}
EOF2
$front->start;

open my $cf, '>', "$tmp/creds" or die;
print $cf "mirror:s3cret\n";
close $cf;

my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port,
        UP => $open->port, UP2 => $basic->port, CREDS => "$tmp/creds",
        UP3 => $tok->port, FRONT => $front->port, CDN => $cdn_port);
my $conf = registry_config(
    workers => 2,
    extra => <<'EOF2',
oci_registry_mirror hub http://127.0.0.1:%%UP%% ns=docker.io default
                    ttl=2s;
oci_registry_mirror private http://127.0.0.1:%%UP2%%
                    credentials=%%CREDS%%;
oci_registry_mirror nocreds http://127.0.0.1:%%UP2%%;
oci_registry_mirror tok http://127.0.0.1:%%UP3%% auth=demo:demo;
oci_registry_mirror anon http://127.0.0.1:%%UP3%%;
oci_registry_mirror limited http://127.0.0.1:%%FRONT%% ttl=1s;
oci_registry_mirror rw http://127.0.0.1:%%UP%% push=on;
oci_registry_mirror cdn http://127.0.0.1:%%CDN%%;
EOF2
    server_extra => "location = /metrics { oci_registry_metrics; }\n"
                    . OciTest::Upstream::mirror_location(
                          proxy_connect_timeout => '2s',
                          proxy_read_timeout => '3s'),
);
$t->write_config($conf);
$t->start;

my $http = HTTP::Tiny->new(timeout => 30);
my $base = $t->url('');
my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

# --- seed the upstreams: a small image and one with a 64 MiB layer

my $small = "$tmp/small";
build_image($small, 'v1', 'amd64', { 'a.txt' => "mirror me\n" },
            { 'b.bin' => join('', map { chr(int rand 256) } 1 .. 200_000) });
run('skopeo', 'copy', @tls, "oci:$small:v1",
    'docker://' . $open->addr . '/library/app:v1');
run('skopeo', 'copy', @tls, '--dest-creds=mirror:s3cret', "oci:$small:v1",
    'docker://' . $basic->addr . '/team/app:v1');

sub image_manifest {
    my ($dir, $tag) = @_;
    return decode_json(read_blob($dir, layout_manifest($dir, $tag)->{digest}));
}

run('skopeo', 'copy', @tls, '--dest-creds=demo:demo', "oci:$small:v1",
    'docker://127.0.0.1:' . $tok->port . '/demo/app:v1');
run('skopeo', 'copy', @tls, '--dest-creds=admin:admin', "oci:$small:v1",
    'docker://127.0.0.1:' . $tok->port . '/public/app:v1');

my $m = image_manifest($small, 'v1');
my @layers = map { $_->{digest} } @{ $m->{layers} };
my $layer = $layers[-1];
my $layer_bytes = read_blob($small, $layer);

sub get { $http->request($_[2] // 'GET', "$base$_[0]", { headers => $_[1] // {} }) }

my $accept = { Accept => 'application/vnd.oci.image.manifest.v1+json' };

# --- by prefix: manifest, blob

my $r = get('/v2/hub/library/app/manifests/v1', $accept);
is $r->{status}, 200, 'a manifest by tag through the prefix';
my $digest = $r->{headers}{'docker-content-digest'};
is $digest, 'sha256:' . sha256_hex($r->{content}),
   'its digest is that of its bytes';

$r = get("/v2/hub/library/app/blobs/$layer");
is $r->{status}, 200, 'a blob, cold';
ok $r->{content} eq $layer_bytes, 'its bytes are the layer\'s';

# the client has its last byte before the commit ends: a moment later
sub eventually { my ($f) = @_; for (1 .. 100) { return 1 if $f->(); sleep 0.05 } 0 }
my ($hex) = $layer =~ /sha256:(.*)/;
ok eventually(sub { -f "$storage/blobs/sha256/" . substr($hex, 0, 2) . "/$hex" }),
   'and it is stored as a blob';

is $open->count('GET', "/v2/library/app/blobs/$layer"), 1,
   'the upstream was asked once';

$r = get("/v2/hub/library/app/blobs/$layer");
ok $r->{status} == 200 && $r->{content} eq $layer_bytes,
   'the second pull is served';
is $open->count('GET', "/v2/library/app/blobs/$layer"), 1,
   'from the cache';

$r = get("/v2/hub/library/app/blobs/$layer", {}, 'HEAD');
is $r->{headers}{'content-length'}, length $layer_bytes, 'HEAD of it';

$r = get("/v2/hub/library/app/blobs/$layer", { Range => 'bytes=10-19' });
is $r->{status}, 206, 'a range of it';
is $r->{content}, substr($layer_bytes, 10, 10), 'the right bytes';

# --- a blob behind a redirect (Docker Hub's CDN): followed

my $redirects = sub {
    my $log = OciTest::Upstream::settled($front->dir . '/logs/access.log');
    my $n = () = ($log // '') =~ /"GET \/v2\/library\/app\/blobs\/\Q$layer\E HTTP\/1\.[01]" 307/g;
    $n;
};
my $upgets = $open->count('GET', "/v2/library/app/blobs/$layer");
$r = get("/v2/cdn/library/app/blobs/$layer");
ok $r->{status} == 200 && $r->{content} eq $layer_bytes,
   'a blob behind a 307: followed, the right bytes';
is $redirects->(), 1, 'the front redirected once';
is $open->count('GET', "/v2/library/app/blobs/$layer") - $upgets, 1,
   'and the upstream it named was asked';

# --- by ?ns= (containerd) and as the default (Docker Engine)

$r = get('/v2/library/app/manifests/v1?ns=docker.io', $accept);
is $r->{status}, 200, 'by ?ns=docker.io';
is $r->{headers}{'oci-namespace'}, 'docker.io', 'OCI-Namespace says so';
is $r->{headers}{'docker-content-digest'}, $digest, 'the same manifest';

$r = get('/v2/library/app/manifests/v1', $accept);
is $r->{status}, 200, 'with neither: the default mirror';

$r = get('/v2/_catalog');
my $cat = decode_json($r->{content})->{repositories};
ok((grep { $_ eq 'hub/library/app' } @$cat), 'the catalog shows the copy '
   . 'under its prefix');

# --- marked as cached: the source, when fetched, last pulled

my ($mk) = @{ $redis->cmd('KEYS', '*{hub/library/app}:mirror') };
ok $mk, 'the mirrored repository has its marks';
is $redis->cmd('HGET', $mk, '@source'), $open->url, 'its source';
(my $mfk = $mk) =~ s/mirror$/m:$digest/;
my %marks = @{ $redis->cmd('HGETALL', $mfk) };
like $marks{fetched} // '', qr/^\d{10}$/, 'when its manifest was fetched';
like $marks{'fetched:v1'} // '', qr/^\d{10}$/, 'and its tag';
like $marks{pulled} // '', qr/^\d{10}$/, 'when it was last pulled';

# --- multi-arch: the index is cached, a child when it is pulled

my $multi = "$tmp/multi";
build_image($multi, 'amd', 'amd64', { 'x' => "amd\n" });
build_image($multi, 'arm', 'arm64', { 'x' => "arm\n" });
my $idx = make_index($multi, 'multi', amd => 'amd64', arm => 'arm64');
run('skopeo', 'copy', @tls, '--all', "oci:$multi:multi",
    'docker://' . $open->addr . '/library/multi:1');
my $amd = layout_manifest($multi, 'amd')->{digest};
my $arm = layout_manifest($multi, 'arm')->{digest};
$r = get('/v2/hub/library/multi/manifests/1',
         { Accept => 'application/vnd.oci.image.index.v1+json' });
ok $r->{status} == 200 && $r->{headers}{'docker-content-digest'} eq $idx,
   'an index through the mirror';
is $open->count('GET', "/v2/library/multi/manifests/$arm"), 0,
   'its children are not fetched with it';
$r = get("/v2/hub/library/multi/manifests/$arm",
         { Accept => 'application/vnd.oci.image.manifest.v1+json' });
is $r->{status}, 200, 'a child by digest, when pulled';
is $open->count('GET', "/v2/library/multi/manifests/$arm"), 1,
   'fetched then';
is $open->count('GET', "/v2/library/multi/manifests/$amd"), 0,
   'and only that one';

# --- lifecycle policies evict cached images like pushed ones (pushed:
# when fetched); a pull then fetches again

my $ev = "$tmp/evict";
build_image($ev, 'v1', 'amd64', { 'e' => "one\n" });
build_image($ev, 'v2', 'amd64', { 'e' => "two\n" });
for my $tag (qw(v1 v2)) {
    run('skopeo', 'copy', @tls, "oci:$ev:$tag",
        'docker://' . $open->addr . "/library/evict:$tag");
}
is get('/v2/hub/library/evict/manifests/v1', $accept)->{status}, 200,
   'evict: v1 cached';
sleep 1.1;
is get('/v2/hub/library/evict/manifests/v2', $accept)->{status}, 200,
   'then v2';
$r = $http->request('PUT', "$base/v2/hub/library/evict/_lifecycle/policy",
    { content => '{"rules":[{"rulePriority":1,"selection":{"tagStatus":'
                 . '"tagged","tagPatternList":["*"],"countType":'
                 . '"imageCountMoreThan","countNumber":1},"action":'
                 . '{"type":"expire"}}]}' });
is $r->{status}, 201, 'a lifecycle policy on the cached repository';
$r = $http->request('POST', "$base/v2/hub/library/evict/_lifecycle/run");
is $r->{status}, 200, 'run';
my $evgets = $open->count('GET', '/v2/library/evict/manifests/v1');
is get('/v2/hub/library/evict/manifests/v2', $accept)->{status}, 200,
   'the newer fetch stays';
is get('/v2/hub/library/evict/manifests/v1', $accept)->{status}, 200,
   'the older one, expired, is pulled again';
is $open->count('GET', '/v2/library/evict/manifests/v1') - $evgets, 1,
   'from the upstream';

# --- read-only

$r = $http->request('POST', "$base/v2/hub/library/app/blobs/uploads/");
is $r->{status}, 405, 'a push to a mirror is refused';
like $r->{content}, qr/"UNSUPPORTED"/, 'with UNSUPPORTED';
$r = $http->request('DELETE', "$base/v2/hub/library/app/manifests/v1");
is $r->{status}, 405, 'and so is a delete';

# push=on: local pushes under the prefix, next to the cached copies
my $img = "$tmp/local";
build_image($img, 'mine', 'amd64', { 'mine.txt' => "pushed here\n" });
run('skopeo', 'copy', @tls, "oci:$img:mine",
    'docker://127.0.0.1:' . $t->port . '/rw/team/mine:v1');
$r = get('/v2/rw/team/mine/manifests/v1', $accept);
is $r->{status}, 200, 'push=on: a local push under the prefix';
is $open->count('GET', '/v2/team/mine/manifests/v1')
   + $open->count('HEAD', '/v2/team/mine/manifests/v1'), 0,
   'served locally, the upstream never asked';

# --- skopeo through the mirror, by prefix

run('skopeo', 'copy', @tls, 'docker://127.0.0.1:' . $t->port
    . '/hub/library/app:v1', "oci:$tmp/pulled:v1");
my $pm = image_manifest("$tmp/pulled", 'v1');
is_deeply [map { $_->{digest} } @{ $pm->{layers} }], \@layers,
   'skopeo pulls the image through the mirror';
for my $d (@layers) {
    ok read_blob("$tmp/pulled", $d) eq read_blob($small, $d),
       "layer $d byte-identical";
}

# --- Basic auth upstream, credentials from a file

$r = get('/v2/private/team/app/manifests/v1', $accept);
is $r->{status}, 200, 'an htpasswd upstream, with the file\'s credentials';
$r = get("/v2/private/team/app/blobs/$layer");
ok $r->{status} == 200 && $r->{content} eq $layer_bytes,
   'its blob too';
$r = get('/v2/nocreds/team/app/manifests/v1', $accept);
is $r->{status}, 404, 'without credentials the upstream shows nothing';
# (nginx's debug log shows every header a proxy sends: not that one)
my $logged = join '', grep { m{^\d{4}/\d\d/\d\d \S+ \[(?!debug)} }
                     split /^/, $t->error_log;
my $access = do { local (@ARGV, $/) = ($t->dir . '/logs/access.log'); <> };
unlike $logged . $access, qr/s3cret|bWlycm9yOnMzY3JldA/,
   'the credentials are in no log';

# --- a token-auth upstream: 401, a token from its realm, then the pull

my $tokens = sub {
    my $log = OciTest::Upstream::settled($tok->dir . '/logs/oci.log');
    my $n = () = $log =~ /\|GET \/token\?/g;
    $n;
};
my $tokens_before = $tokens->();
$r = get('/v2/tok/demo/app/manifests/v1', $accept);
is $r->{status}, 200, 'a Bearer upstream: the manifest, with a token';
$r = get("/v2/tok/demo/app/blobs/$layer");
ok $r->{status} == 200 && $r->{content} eq $layer_bytes, 'and a blob';
is $tokens->() - $tokens_before, 1,
   'one token, kept for the next request';
$r = get('/v2/anon/public/app/manifests/v1', $accept);
is $r->{status}, 200, 'an anonymous token for a public repository';
$r = get('/v2/anon/demo/app/manifests/v1', $accept);
is $r->{status}, 404, 'none for a private one';

# --- 429 from the upstream: passed on, served stale, never retried

my $front_requests = sub {
    my $log = OciTest::Upstream::settled($front->dir . '/logs/access.log');
    my @l = split /\n/, $log // '';
    scalar @l;
};
$r = get('/v2/limited/library/app/manifests/v1', $accept);
is $r->{status}, 200, 'a rate-limited upstream: the first request passes';
my $n0 = $front_requests->();
$r = get('/v2/limited/library/app/manifests/sha256:' . ('0' x 64), $accept);
is $r->{status}, 429, 'the next gets its 429';
like $r->{content}, qr/"code":"TOOMANYREQUESTS"/, 'with the OCI body';
is $r->{headers}{'retry-after'}, '60', 'and its Retry-After';
sleep 2.2;
$r = get('/v2/limited/library/app/manifests/v1', $accept);
is $r->{status}, 200, 'a cached tag past its TTL: served';
like $r->{headers}{warning} // '', qr/^110 /, 'stale, with a Warning';
is $front_requests->() - $n0, 2, 'one upstream request per client request: '
   . 'no retry';

# --- the upstream gone: the cache serves; a stale tag gets a Warning

# revalidated (its TTL is 2 s): fresh for what follows
get('/v2/hub/library/app/manifests/v1', $accept);
$open->stop;
$r = get("/v2/hub/library/app/blobs/$layer");
ok $r->{status} == 200 && $r->{content} eq $layer_bytes,
   'a cached blob, upstream down';
$r = get('/v2/hub/library/app/manifests/v1', $accept);
is $r->{status}, 200, 'a cached tag within its TTL';
ok !$r->{headers}{warning}, 'fresh: no Warning';
sleep 3.2;
$r = get('/v2/hub/library/app/manifests/v1', $accept);
is $r->{status}, 200, 'past its TTL, upstream down: served stale';
like $r->{headers}{warning} // '', qr/^110 /, 'with a Warning';

my $t0 = time;
$r = get('/v2/hub/library/other/manifests/v1', $accept);
is $r->{status}, 502, 'an uncached tag, upstream down: 502';
like $r->{content}, qr/"code":"UNAVAILABLE"/, 'with the OCI error body';
cmp_ok time - $t0, '<', 5, 'quickly';

$open->start_again;
sleep 3.2;
my $heads = $open->count('HEAD', '/v2/library/app/manifests/v1');
my $gets = $open->count('GET', '/v2/library/app/manifests/v1');
$r = get('/v2/hub/library/app/manifests/v1', $accept);
ok $r->{status} == 200 && !$r->{headers}{warning},
   'upstream back: revalidated';
is $open->count('HEAD', '/v2/library/app/manifests/v1') - $heads, 1,
   'by a HEAD';
is $open->count('GET', '/v2/library/app/manifests/v1') - $gets, 0,
   'and no GET: it had not moved';

# --- the upstream hung (SIGSTOP: it accepts, never answers): 504 after
# the mirror location's proxy_read_timeout (3 s), workers not stuck

kill 'STOP', $open->{pid};
my $hung = fork // die;
if (!$hung) {
    my $res = HTTP::Tiny->new(timeout => 30)
        ->get("$base/v2/hub/library/hung/manifests/v1",
              { headers => $accept });
    open my $o, '>', "$tmp/hung" or POSIX::_exit(2);
    print $o "$res->{status} $res->{content}";
    close $o;
    POSIX::_exit(0);
}
sleep 0.5;
$t0 = time;
$r = get("/v2/hub/library/app/blobs/$layer");
ok $r->{status} == 200 && time - $t0 < 2,
   'upstream hung: a cached blob is served meanwhile';
$t0 = time;
waitpid $hung, 0;
my $hung_answer = do { local (@ARGV, $/) = ("$tmp/hung"); <> } // '';
like $hung_answer, qr/^504 .*"code":"UNAVAILABLE"/s,
   'an uncached tag: 504 with the OCI body';
kill 'CONT', $open->{pid};

# --- wrong bytes from the upstream: rejected, not stored

my $big = do {
    open my $u, '<', '/dev/urandom' or die;
    read($u, my $b, 64 * 1024 * 1024) == 64 * 1024 * 1024 or die;
    $b;
};
my $bigsrc = "$tmp/big";
build_image($bigsrc, 'v1', 'amd64', { 'big.bin' => $big });
undef $big;
run('skopeo', 'copy', @tls, "oci:$bigsrc:v1",
    'docker://' . $open->addr . '/library/big:v1');
my $bm = image_manifest($bigsrc, 'v1');
my $bigl = $bm->{layers}[0]{digest};
my $bigsize = $bm->{layers}[0]{size};
my $bigfile = $open->blob_file($bigl);

my $sane = read_blob($bigsrc, $bigl);
{
    open my $f, '+<', $bigfile or die;
    binmode $f;
    seek $f, 1000, 0;
    print $f 'X' x 16;
    close $f;
}
$r = get("/v2/hub/library/big/blobs/$bigl");
ok $r->{status} != 200 || length($r->{content}) != $bigsize,
   'wrong bytes from the upstream: the answer is cut short';
my ($bighex) = $bigl =~ /sha256:(.*)/;
my $bigpath = "$storage/blobs/sha256/" . substr($bighex, 0, 2) . "/$bighex";
ok !-e $bigpath, 'and nothing is stored';
$t->allow_log(qr/are sha256:.*not stored|answer cut short|prematurely/);

{
    open my $f, '>', $bigfile or die;
    binmode $f;
    print $f $sane;
    close $f;
}
undef $sane;

# --- the upstream killed mid-blob

{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port) or die;
    print $s "GET /v2/hub/library/big/blobs/$bigl HTTP/1.1\r\n"
           . "Host: x\r\nConnection: close\r\n\r\n";
    my $got = '';
    while (length($got) < 1024 * 1024) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $got .= $buf;
    }
    $open->kill9;
    while (1) {
        my $n = sysread($s, my $buf, 1 << 20);
        last unless $n;
        $got .= $buf;
    }
    my ($hdr, $body) = split /\r\n\r\n/, $got, 2;
    like $hdr, qr/^HTTP\/1.1 200/, 'mid-blob: it had begun';
    cmp_ok length($body), '<', $bigsize, 'the client gets less than all';
    ok !-e $bigpath, 'nothing is stored';
}
$open->start_again;

# --- 16 concurrent cold pulls of the 64 MiB blob, half of them through a
# second node sharing the storage and Redis: one upstream GET

my $t2 = OciTest::Nginx->new();
$t2->set(STORAGE => $storage, REDIS => $redis->port,
         UP => $open->port, UP2 => $basic->port, CREDS => "$tmp/creds",
         UP3 => $tok->port, FRONT => $front->port, CDN => $cdn_port);
$t2->write_config($conf);
$t2->start;
my $base2 = $t2->url('');

my $before = $open->count('GET', "/v2/library/big/blobs/$bigl");
my @kids;
for my $i (1 .. 16) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $res = HTTP::Tiny->new(timeout => 120)
            ->get(($i % 2 ? $base : $base2) . "/v2/hub/library/big/blobs/$bigl");
        open my $o, '>', "$tmp/pull.$i" or POSIX::_exit(2);
        print $o $res->{status}, ' ', sha256_hex($res->{content}), "\n";
        close $o;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
my %seen;
for my $i (1 .. 16) {
    open my $f, '<', "$tmp/pull.$i" or die;
    my $line = <$f>;
    chomp $line;
    $seen{$line}++;
}
is_deeply \%seen, { "200 $bighex" => 16 },
          '16 cold pulls on two nodes, all byte-identical';
is $open->count('GET', "/v2/library/big/blobs/$bigl") - $before, 1,
   'exactly one upstream GET of it';
ok eventually(sub { -f $bigpath }), 'and it is stored';

# --- what the metrics say

# both nodes' counters: either may have done the 16 pulls' one fetch
my @metrics = map { $http->get("$_/metrics")->{content} } $base, $base2;
sub metric {
    my ($re) = @_;
    my $sum = 0;
    for my $m (@metrics) {
        my ($v) = $m =~ /^\Q$re\E (\d+)$/m;
        return -1 unless defined $v;
        $sum += $v;
    }
    $sum;
}
cmp_ok metric('oci_registry_mirror_hits_total{kind="blobs"}'), '>=', 2,
   'metrics: blob hits';
cmp_ok metric('oci_registry_mirror_hits_total{kind="manifests"}'), '>=', 2,
   'manifest hits';
cmp_ok metric('oci_registry_mirror_fetches_total{kind="blobs",result="ok"}'),
   '>=', 3, 'blob fetches';
cmp_ok metric('oci_registry_mirror_fetches_total{kind="tokens",result="ok"}'),
   '>=', 2, 'token fetches';
cmp_ok metric('oci_registry_mirror_fetches_total{kind="manifests",'
              . 'result="failed"}'), '>=', 3, 'failed manifest fetches';
cmp_ok metric('oci_registry_mirror_stale_total'), '>=', 2, 'stale answers';
cmp_ok metric('oci_registry_mirror_rejected_total'), '>=', 2,
   'rejected bodies';
cmp_ok metric('oci_registry_mirror_stored_bytes_total'), '>=', $bigsize,
   'stored bytes';

$t2->check_logs;
$t->check_logs;
done_testing;
