# Events and webhooks: every push, delete and mount (and pull, when asked)
# is appended to a Redis stream by the script that makes the change, and
# delivered to HTTP endpoints in CNCF distribution's envelope through an
# internal proxy_pass location: in order, at least once, signed, filtered;
# kept while an endpoint is down or failing, across a kill -9 of nginx,
# once per endpoint with two nodes, and bounded by the backlog.  The
# endpoint is a real HTTP server of the test (OciTest::Receiver).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Digest::SHA qw(hmac_sha256_hex);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Receiver;
use OciTest::Registry qw(sha256 push_blob put_manifest);

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $rx = OciTest::Receiver->start;
my $secret = 'a webhook secret';

sub config {
    my (%o) = @_;
    my $backlog = $o{backlog} // 10000;
    my $pulls = $o{pulls} ? 'on' : 'off';
    my $prefix = $o{prefix} // 'oci:';
    return <<"EOF";
%%GLOBALS%%
master_process on;
worker_processes 2;
events { worker_connections 256; }
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;
        oci_registry_storage %%STORAGE%%;
        oci_registry_redis 127.0.0.1:%%REDIS%%;
        oci_registry_key_prefix $prefix;
        oci_registry_thread_pool default;
        oci_registry_events on;
        oci_registry_events_pulls $pulls;
        oci_registry_events_backlog $backlog;
        oci_registry_events_actor \$http_x_actor;

        oci_registry_events_endpoint all /_hooks/all
            secret=%%TESTDIR%%/secret poll=100ms backoff_max=400ms;
        oci_registry_events_endpoint prod /_hooks/prod
            repositories=prod/* actions=push,delete poll=100ms;

        location /v2/ { oci_registry; }
        location = /metrics { oci_registry_metrics; }
        location /_hooks/ {
            internal;
            proxy_pass http://127.0.0.1:%%RX%%;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
        }
    }
}
EOF
}

sub node {
    my (%o) = @_;
    my $t = OciTest::Nginx->new();
    $t->set(STORAGE => "$tmp/storage", REDIS => $redis->port, RX => $rx->port);
    $t->write_file('secret', "$secret\n");
    $t->write_config(config(%o));
    $t->start;
    $t->allow_log(qr/events for "\w+": .* answered \d+|connect\(\) failed|upstream timed out|exited on signal 9/);
    return $t;
}

my $t = node();

# the events the receiver took (answered 200) at a path, in order
sub got {
    my ($path) = @_;
    return map { @{ decode_json($_->{body})->{events} } }
           grep { $_->{path} eq $path && $_->{status} == 200 } $rx->requests;
}

sub unique { my %s; scalar grep { !$s{$_->{id}}++ } @_ }

sub scrape {
    my ($node) = @_;
    my $c = HTTP::Tiny->new->get($node->url('/metrics'))->{content} // '';
    return { map { /^(\S+) (\S+)$/ ? ($1 => $2) : () } grep { !/^#/ } split /\n/, $c };
}

sub wait_events {
    my ($path, $n) = @_;
    my @e;
    for (1 .. 200) {
        @e = got($path);
        last if @e >= $n;
        sleep 0.05;
    }
    return @e;
}

my $OCI_M = 'application/vnd.oci.image.manifest.v1+json';
sub image {
    my ($cfg, $layer) = @_;
    return qq!{"schemaVersion":2,"mediaType":"$OCI_M",!
        . qq!"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"!
        . sha256($cfg) . qq!","size":! . length($cfg) . qq!},"layers":[{"mediaType":!
        . qq!"application/vnd.oci.image.layer.v1.tar","digest":"! . sha256($layer)
        . qq!","size":! . length($layer) . '}]}';
}

sub push_image {
    my ($node, $repo, $tag, $seed) = @_;
    my ($cfg, $layer) = (qq!{"seed":"$seed"}!, "layer of $seed");
    push_blob($node, $repo, $_) for $cfg, $layer;
    my $m = image($cfg, $layer);
    my $r = $node->http->request('PUT', $node->url("/v2/$repo/manifests/$tag"),
        { content => $m, headers => { 'Content-Type' => $OCI_M,
                                      'X-Actor' => 'alice' } });
    die "PUT manifest: $r->{status}" unless $r->{status} == 201;
    return ($cfg, $layer, $m);
}

# --- a push: its blobs and its manifest, in order, in distribution's envelope

my ($cfg, $layer, $m) = push_image($t, 'lib/app', 'v1', 'one');
my @e = wait_events('/_hooks/all', 3);
is(scalar @e, 3, 'a push is three events: two blobs and the manifest');
is_deeply([ map { "$_->{action} $_->{target}{digest}" } @e ],
          [ 'push ' . sha256($cfg), 'push ' . sha256($layer), 'push ' . sha256($m) ],
          '  in the order they happened');
my $me = $e[2];
is($me->{target}{mediaType}, $OCI_M, 'the manifest event: its media type');
is($me->{target}{repository}, 'lib/app', '  repository');
is($me->{target}{tag}, 'v1', '  tag');
is($me->{target}{size}, length($m), '  size');
is($me->{target}{url}, 'http://127.0.0.1:' . $t->port . '/v2/lib/app/manifests/' . sha256($m),
   '  url');
is($me->{actor}{name}, 'alice', '  actor (oci_registry_events_actor)');
is($me->{request}{method}, 'PUT', '  request method');
like($me->{request}{id}, qr/^[0-9a-f]{32}$/, '  request id ($request_id)');
like($me->{id}, qr/^\d+-\d+$/, '  an id');
like($me->{timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '  an RFC 3339 timestamp');
is($e[0]{target}{mediaType}, 'application/octet-stream', 'a blob event: octet-stream');
is($e[0]{target}{size}, length($cfg), '  its size');

my ($req) = grep { $_->{path} eq '/_hooks/all' } $rx->requests;
is($req->{method}, 'POST', 'delivered with POST');
is($req->{headers}{'content-type'}, 'application/vnd.docker.distribution.events.v2+json',
   '  as application/vnd.docker.distribution.events.v2+json');
is($req->{headers}{'x-registry-signature-256'},
   'sha256=' . hmac_sha256_hex($req->{body}, $secret),
   '  signed: X-Registry-Signature-256 is the HMAC-SHA256 of the body');
ok(!grep({ $_->{path} eq '/_hooks/prod' } $rx->requests),
   'the prod endpoint (repositories=prod/*) got none of it');

# --- a pull is no event unless asked; deletes and mounts are

is($t->http->get($t->url('/v2/lib/app/manifests/v1'),
                 { headers => { Accept => $OCI_M } })->{status}, 200, 'a pull');
is($t->http->request('POST', $t->url('/v2/other/app/blobs/uploads/?mount='
                     . sha256($layer) . '&from=lib/app'))->{status}, 201, 'a mount');
is($t->http->request('DELETE', $t->url('/v2/lib/app/manifests/v1'))->{status}, 202,
   'a tag deleted');
is($t->http->request('DELETE', $t->url('/v2/lib/app/manifests/' . sha256($m)))->{status},
   202, 'the manifest deleted');
is($t->http->request('DELETE', $t->url('/v2/lib/app/blobs/' . sha256($cfg)))->{status},
   202, 'a blob deleted');
@e = wait_events('/_hooks/all', 7);
is_deeply([ map { $_->{action} } @e[3 .. $#e] ], [qw(mount delete delete delete)],
          'no pull; a mount and three deletes');
is($e[3]{target}{fromRepository}, 'lib/app', 'the mount names its source');
is($e[3]{target}{repository}, 'other/app', '  and its repository');
is($e[4]{target}{tag}, 'v1', 'the tag deletion names the tag');
is($e[4]{target}{digest}, sha256($m), '  and the digest it pointed to');
is($e[5]{target}{digest}, sha256($m), 'the manifest deletion its digest');
is($e[6]{target}{digest}, sha256($cfg), 'the blob deletion its digest');

# --- filters: repositories=prod/* actions=push,delete

push_image($t, 'prod/api', 'v1', 'two');
is($t->http->request('POST', $t->url('/v2/prod/other/blobs/uploads/?mount='
                     . sha256('layer of two') . '&from=prod/api'))->{status}, 201,
   'a mount in prod/');
my @p = wait_events('/_hooks/prod', 3);
sleep 0.5;
@p = got('/_hooks/prod');
is(scalar @p, 3, 'the prod endpoint gets the prod push');
ok(!grep({ $_->{action} eq 'mount' } @p), '  and not the mount (actions=push,delete)');

# --- the endpoint fails (500), then takes them: nothing lost

my $before = () = got('/_hooks/all');
$rx->answer(500);
push_image($t, 'lib/retry', 'v1', 'three');
my $failed = 0;
for (1 .. 200) {
    $failed = grep { $_->{path} eq '/_hooks/all' && $_->{status} == 500 } $rx->requests;
    last if $failed >= 2;
    sleep 0.05;
}
ok($failed >= 2, "the endpoint answers 500: sent again ($failed tries)");
ok(scrape($t)->{'oci_registry_events_delivery_failures_total{endpoint="all"}'} >= 2,
   '  counted as delivery failures');
$rx->answer(200);
@e = wait_events('/_hooks/all', $before + 3);
is(scalar @e, $before + 3, 'it answers 200 again: the three events arrive');
is(unique(@e), scalar @e, '  each once');
is_deeply([ map { $_->{target}{repository} } @e[-3 .. -1] ], [ ('lib/retry') x 3 ],
          '  in order, after the earlier ones');

# --- the endpoint is down (connection refused), then back

$rx->stop;
push_image($t, 'lib/down', 'v1', 'four');
sleep 1;
$rx->start_again;
@e = wait_events('/_hooks/all', $before + 6);
is(scalar @e, $before + 6, 'the endpoint was down: its events arrive when it is back');
is(unique(@e), scalar @e, '  each once');

# --- nginx killed with -9 while events wait: delivered after the restart

$rx->stop;
push_image($t, 'lib/crash', 'v1', 'five');
sleep 0.3;
$t->kill9;
$rx->start_again;
$t->start;
@e = wait_events('/_hooks/all', $before + 9);
is(scalar @e, $before + 9, 'nginx killed -9 with events waiting: delivered after restart');
is(unique(@e), scalar @e, '  each once');
is($e[-1]{target}{repository}, 'lib/crash', '  the last one the crash push\'s');

# --- two nodes: each event once per endpoint

my $t2 = node();
my @nodes = ($t, $t2);
for my $i (1 .. 6) {
    push_image($nodes[$i % 2], "lib/node$i", 'v1', "node$i");
}
@e = wait_events('/_hooks/all', $before + 9 + 18);
is(scalar @e, $before + 9 + 18, 'pushes through two nodes: all their events');
is(unique(@e), scalar @e, '  each once to the endpoint, not once per node');
my @lease = @{ $redis->cmd('KEYS', 'oci:events:lease:*') };
is(scalar @lease, 2, 'one lease per endpoint in Redis');
my $m1 = scrape($t)->{'oci_registry_events_delivered_total{endpoint="all"}'} // 0;
my $m2 = scrape($t2)->{'oci_registry_events_delivered_total{endpoint="all"}'} // 0;
is($m1 + $m2, 3 + 18, 'the delivered events are counted (since the restart: '
   . "the crash push's 3 and these 18; $m1 by one node, $m2 by the other)");
$t2->stop;

# --- a full stream drops its oldest, and counts them

$t->stop;
$rx->stop;
my $small = node(prefix => 'small:', backlog => 3);
push_image($small, 'lib/full', "v$_", "full$_") for 1 .. 2;
is($redis->cmd('XLEN', 'small:events'), 3, 'six events into a backlog of 3: 3 kept');
is($redis->cmd('GET', 'small:events:dropped'), 3, '  3 dropped, counted');
$rx->start_again;
my $n0 = () = got('/_hooks/all');
@e = wait_events('/_hooks/all', $n0 + 3);
is(scalar @e - $n0, 3, 'the endpoint gets the 3 kept');
is_deeply([ map { $_->{target}{tag} // '' } @e[-1 .. -1] ], ['v2'],
          '  the newest (the last is the v2 manifest)');
for (1 .. 100) {
    last if (scrape($small)->{'oci_registry_events_dropped_total{endpoint="all"}'} // 0) == 3;
    sleep 0.05;
}
is(scrape($small)->{'oci_registry_events_dropped_total{endpoint="all"}'}, 3,
   '  and the metrics say 3 were dropped');
$small->stop;

# --- pulls are events when asked

my $pn = node(prefix => 'pulls:', pulls => 1);
my ($pcfg, $player, $pm) = push_image($pn, 'lib/pull', 'v1', 'pull');
$n0 = () = got('/_hooks/all');
@e = wait_events('/_hooks/all', $n0 + 3);
is($pn->http->get($pn->url('/v2/lib/pull/manifests/v1'),
                  { headers => { Accept => $OCI_M } })->{status}, 200, 'a manifest pull');
is($pn->http->head($pn->url('/v2/lib/pull/manifests/v1'))->{status}, 200, 'a HEAD');
is($pn->http->get($pn->url('/v2/lib/pull/blobs/' . sha256($player)))->{status}, 200,
   'a blob pull');
@e = wait_events('/_hooks/all', $n0 + 5);
is_deeply([ map { "$_->{action} $_->{target}{digest}" } @e[$n0 + 3 .. $#e] ],
          [ 'pull ' . sha256($pm), 'pull ' . sha256($player) ],
          'with oci_registry_events_pulls on: the two pulls, not the HEAD');
is($e[$n0 + 3]{target}{tag}, 'v1', 'the manifest pull names its tag');
is($e[$n0 + 3]{target}{mediaType}, $OCI_M, '  and its media type');
$pn->stop;

done_testing;
