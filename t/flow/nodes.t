# Three registry nodes sharing one storage root and one Redis behind a
# stock nginx load balancer (round robin, no module): a push through one
# node pulls from the others, a chunked upload moves between nodes chunk
# by chunk, and a node killed with kill -9 while four clients pull through
# the balancer costs them no failed pull.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";

my $redis = OciTest::Redis->start;

my @nodes = map {
    my $n = OciTest::Nginx->new();
    $n->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
    $n->write_config(registry_config(workers => 2));
    $n->start;
    $n;
} 1 .. 3;

# the balancer: nginx as Debian ships it, nothing of ours loaded; a node
# that refuses or drops a connection is skipped for the next one
my $lb = OciTest::Nginx->new(modules => []);
$lb->set(map { ("NODE$_" => $nodes[$_ - 1]->port) } 1 .. 3);
$lb->write_config(<<'EOF');
%%GLOBALS%%
master_process on;
worker_processes 1;
events { worker_connections 256; }
http {
    %%HTTP_GLOBALS%%
    upstream registry {
        server 127.0.0.1:%%NODE1%% max_fails=1 fail_timeout=10s;
        server 127.0.0.1:%%NODE2%% max_fails=1 fail_timeout=10s;
        server 127.0.0.1:%%NODE3%% max_fails=1 fail_timeout=10s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;
        location /v2/ {
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_next_upstream error timeout http_502;
            proxy_request_buffering off;
        }
    }
}
EOF
$lb->start;

# --- a push through one node, pulled from the others ----------------------

my $cfg = '{"architecture":"amd64","os":"linux"}';
my $layer = join '', map { chr(($_ * 7) % 251) } 1 .. 70000;
is(push_blob($nodes[0], 'multi/app', $cfg)->{status}, 201, 'config pushed to node 1');
is(push_blob($nodes[0], 'multi/app', $layer)->{status}, 201, 'layer pushed to node 1');
my $manifest = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    . sha256($cfg) . '","size":' . length($cfg) . '},"layers":[{"mediaType":'
    . '"application/vnd.oci.image.layer.v1.tar","digest":"' . sha256($layer)
    . '","size":' . length($layer) . '}]}';
is(put_manifest($nodes[0], 'multi/app', 'v1', $manifest)->{status}, 201,
   'manifest pushed to node 1');

for my $i (1, 2) {
    my $n = $nodes[$i];
    my $r = $n->http->get($n->url('/v2/multi/app/manifests/v1'));
    is($r->{headers}{'docker-content-digest'}, sha256($manifest),
       'node ' . ($i + 1) . ' serves the manifest');
    $r = $n->http->get($n->url('/v2/multi/app/blobs/' . sha256($layer)));
    ok($r->{status} == 200 && $r->{content} eq $layer,
       'node ' . ($i + 1) . ' serves the layer');
}

# --- a chunked upload that moves from node to node -----------------------

my $big = join '', map { chr(($_ * 13) % 256) } 1 .. 300000;
my @chunks = (substr($big, 0, 100000), substr($big, 100000, 100000),
              substr($big, 200000));
my $r = $nodes[0]->http->request('POST',
    $nodes[0]->url('/v2/multi/app/blobs/uploads/'));
is($r->{status}, 202, 'upload started on node 1');
my $loc = $r->{headers}{location};
my $off = 0;
for my $i (0 .. 2) {
    my $n = $nodes[($i + 1) % 3];
    my $end = $off + length($chunks[$i]) - 1;
    $r = $n->http->request('PATCH', $n->url($loc), {
        content => $chunks[$i],
        headers => { 'Content-Type' => 'application/octet-stream',
                     'Content-Range' => "$off-$end" } });
    is($r->{status}, 202, 'chunk ' . ($i + 1) . ' on node ' . (($i + 1) % 3 + 1));
    is($r->{headers}{range}, "0-$end", 'the node knows the bytes so far');
    $loc = $r->{headers}{location};
    $off = $end + 1;
}
my $sep = $loc =~ /\?/ ? '&' : '?';
$r = $nodes[2]->http->request('PUT',
    $nodes[2]->url($loc . $sep . 'digest=' . sha256($big)));
is($r->{status}, 201, 'closed on node 3');
$r = $nodes[1]->http->get($nodes[1]->url('/v2/multi/app/blobs/' . sha256($big)));
ok($r->{status} == 200 && $r->{content} eq $big,
   'node 2 serves the blob the three nodes wrote');

# --- a node killed under load ---------------------------------------------

my @kids;
for my $p (1 .. 4) {
    my $pid = fork // die;
    if (!$pid) {
        my $http = $lb->http(timeout => 10);
        my ($ok, $bad) = (0, 0);
        my $deadline = time + 4;
        open my $log, '>', "$tmp/pulls.$p" or POSIX::_exit(1);
        while (time < $deadline) {
            my $m = $http->get($lb->url('/v2/multi/app/manifests/v1'));
            my $b = $http->get($lb->url('/v2/multi/app/blobs/' . sha256($layer)));
            if ($m->{status} == 200 && $m->{content} eq $manifest
                && $b->{status} == 200 && $b->{content} eq $layer) {
                $ok++;
            } else {
                $bad++;
                print $log "failed: $m->{status} $b->{status}\n";
            }
        }
        print $log "ok $ok bad $bad\n";
        close $log;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sleep 1.5;
$nodes[1]->kill9;
note 'node 2 killed';
waitpid $_, 0 for @kids;

my ($ok, $bad) = (0, 0);
for my $f (glob "$tmp/pulls.*") {
    open my $fh, '<', $f or die;
    while (<$fh>) {
        ($ok, $bad) = ($ok + $1, $bad + $2) if /^ok (\d+) bad (\d+)/;
        diag($_) if /^failed/;
    }
}
cmp_ok($ok, '>', 100, "$ok pulls (manifest and layer) through the balancer");
is($bad, 0, 'none failed while node 2 died');
like($lb->error_log, qr/127\.0\.0\.1:${\ $nodes[1]->port}/,
     'the balancer did send to the killed node, and moved on');

$lb->allow_log(qr/upstream/);
done_testing();
