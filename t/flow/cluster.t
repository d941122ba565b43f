# Redis Cluster: three masters with two replicas each, from Debian's
# redis-server and redis-cli, started here.  nginx (two workers) knows
# only the seed nodes and the password every node requires.
# Repositories spread over the masters; pushes (monolithic and chunked),
# pulls, tags, referrers, deletes, the catalog and the events stream work
# across them; an outbox a killed worker would leave is swept; garbage
# collection keeps a blob while a repository on any master links it and
# removes it after; a resharding under pushers and pullers fails no
# request; a slot half moved by hand is followed through ASK; kill -9 of a
# master is followed after the cluster's failover, and every push
# acknowledged with wait=1 is there.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Cluster;
use OciTest::Receiver;
use OciTest::Registry qw(sha256 push_blob put_manifest start_upload);

plan skip_all => 'redis-server or redis-cli not installed'
    unless OciTest::Redis::available() && OciTest::Cluster::cli_available();

my $tmp = tempdir(CLEANUP => 1);

sub wait_for {
    my ($what, $secs, $cond) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $ok = eval { $cond->() };
        return 1 if $ok;
        sleep 0.05;
    }
    diag("timed out waiting for $what");
    return 0;
}

sub manifest {
    my ($cfg, $layer, $n, $subject) = @_;
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    . sha256($cfg) . '","size":' . length($cfg) . '},"layers":['
    . (defined $layer
       ? '{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"'
         . sha256($layer) . '","size":' . length($layer) . '}'
       : '')
    . ']' . ($subject ? ',"subject":' . $subject : '')
    . ',"annotations":{"n":"' . $n . '"}}'
}

# every node requires a password, as a deployment's would
my $cluster = OciTest::Cluster->start(masters => 3, replicas => 2,
                                      password => 'cluster-secret');
my @masters = $cluster->masters;
is(scalar @masters, 3, "a cluster of three masters, each with two replicas");

# the events endpoint reads the stream in the global slot
my $rx = OciTest::Receiver->start;
my $seeds = $cluster->seeds;

mkdir "$tmp/storage";
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", RX => $rx->port);
$t->write_config(<<"EOF");
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
        oci_registry_redis $seeds password=cluster-secret
                           wait=1 wait_timeout=1s;
        oci_registry_thread_pool default;
        oci_registry_gc_grace 0s;
        oci_registry_events on;
        oci_registry_events_endpoint all /_hooks/all poll=100ms;

        location /v2/ { oci_registry; }
        location /_hooks/ {
            internal;
            proxy_pass http://127.0.0.1:%%RX%%;
        }
    }
}
EOF
$t->start;
my $http = $t->http;
my @workers = $t->worker_pids;

# --- every endpoint family, repositories on every master -------------------

my @repos = map { "cl/r$_" } 1 .. 12;
my %on = map { $cluster->node_of_key("oci:{$_}:tags")->port => 1 } @repos;
is(scalar keys %on, 3, 'the twelve repositories hash to all three masters');

my (%digest, $events, $r0);
for my $repo (@repos) {
    my ($cfg, $layer) = (qq({"repo":"$repo"}), "layer of $repo" x 100);
    $r0 = push_blob($t, $repo, $cfg);
    is($r0->{status}, 201, "$repo: config pushed") or diag("$r0->{status} $r0->{content}");
    $events++;

    # the layer in two chunks
    my $loc = start_upload($t, $repo);
    ok($loc, "$repo: upload started");
    my $half = int(length($layer) / 2);
    my $r = $http->request('PATCH', $t->url($loc),
        { content => substr($layer, 0, $half),
          headers => { 'Content-Type' => 'application/octet-stream',
                       'Content-Range' => '0-' . ($half - 1) } });
    is($r->{status}, 202, "$repo: first chunk");
    my $next = $r->{headers}{location};
    $r = $http->request('PUT', $t->url($next . ($next =~ /\?/ ? '&' : '?')
                                       . 'digest=' . sha256($layer)),
        { content => substr($layer, $half),
          headers => { 'Content-Type' => 'application/octet-stream' } });
    is($r->{status}, 201, "$repo: closing chunk") or diag("$r->{status} $r->{content}");
    $events++;

    my $m = manifest($cfg, $layer, $repo);
    is(put_manifest($t, $repo, 'v1', $m)->{status}, 201,
       "$repo: manifest tagged v1");
    $events++;
    $digest{$repo} = sha256($m);
}

my $bad = 0;
for my $repo (@repos) {
    my $r = $http->get($t->url("/v2/$repo/manifests/v1"));
    $bad++ unless $r->{status} == 200
        && $r->{headers}{'docker-content-digest'} eq $digest{$repo};
    $r = $http->get($t->url("/v2/$repo/blobs/" . sha256("layer of $repo" x 100)));
    $bad++ unless $r->{status} == 200 && $r->{content} eq "layer of $repo" x 100;
    $r = $http->get($t->url("/v2/$repo/tags/list"));
    $bad++ unless $r->{status} == 200
        && decode_json($r->{content})->{tags}[0] eq 'v1';
}
is($bad, 0, 'every manifest, chunked layer and tag list reads back');

my $cat = $http->get($t->url('/v2/_catalog'));
is_deeply(decode_json($cat->{content})->{repositories}, [ sort @repos ],
          'the catalog (in the global slot) lists all twelve');

# a referrer, then deletes
my $subject = '{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"digest":"' . $digest{'cl/r1'} . '","size":'
    . length(manifest('{"repo":"cl/r1"}', 'layer of cl/r1' x 100, 'cl/r1'))
    . '}';
is(push_blob($t, 'cl/r1', '{"sig":1}')->{status}, 201, 'a signature config');
$events++;
my $sig = manifest('{"sig":1}', undef, 'sig', $subject);
is(put_manifest($t, 'cl/r1', sha256($sig), $sig)->{status}, 201,
   'a referrer of cl/r1:v1');
$events++;
my $refs = decode_json($http->get(
    $t->url("/v2/cl/r1/referrers/$digest{'cl/r1'}"))->{content});
is($refs->{manifests}[0]{digest}, sha256($sig), 'listed by the referrers API');

is($http->request('DELETE', $t->url('/v2/cl/r2/manifests/v1'))->{status}, 202,
   'a tag deleted');
$events++;
is($http->get($t->url('/v2/cl/r2/manifests/v1'))->{status}, 404, 'gone');
is($http->request('DELETE',
                  $t->url("/v2/cl/r3/manifests/$digest{'cl/r3'}"))->{status},
   202, 'a manifest deleted');
$events++;
is($http->get($t->url('/v2/cl/r3/manifests/v1'))->{status}, 404,
   'its tag went with it');

# the outboxes forwarded: the events delivered from the global slot's
# stream, each once, and every repository's outbox empty
my (%seen, @got);
ok(wait_for('the webhook to get them', 10, sub {
    %seen = ();
    @got = map { @{ decode_json($_->{body})->{events} } }
           grep { $_->{status} == 200 } $rx->requests;
    $seen{ $_->{id} }++ for @got;
    keys %seen == $events;
}), "the endpoint delivered all $events events, each once: "
    . scalar(keys %seen) . ' (' . scalar(@got) . ' deliveries)');
is(scalar(grep { $_->{action} eq 'push' } @got), $events - 2,
   'as pushes, and the two deletes as deletes');
is(scalar(grep { ($_->{target}{repository} // '') =~ m{^cl/r\d+$} } @got),
   $events, 'with their repositories');
my $unsent = 0;
for my $repo (@repos) {
    my $n = $cluster->node_of_key("oci:{$repo}:x:events");
    $unsent += $n->cmd('EXISTS', "oci:{$repo}:x:catalog");
    $unsent += $n->cmd('XLEN', "oci:{$repo}:x:events");
}
is($unsent, 0, 'every repository\'s outbox is empty');

# an outbox as a worker killed between a script and its forward leaves
# it: a worker's sweep (a SCAN step a second) forwards it
my $left = 'cl/left';
$cluster->node_of_key("oci:{$left}:x:catalog")
        ->cmd('ZADD', "oci:{$left}:x:catalog", 0, $left);
$cluster->node_of_key("oci:{$left}:x:events")
        ->cmd('XADD', "oci:{$left}:x:events", '*', a => 'push', r => $left,
              m => 'application/vnd.oci.image.manifest.v1+json',
              d => 'sha256:' . ('0' x 64), t => 'left', x => '', u => '',
              q => '"request":{"id":"left-behind"}');
ok(wait_for('the sweep', 20, sub {
    grep { $_ eq $left } @{ decode_json($http->get(
        $t->url('/v2/_catalog'))->{content})->{repositories} }
}), 'an outbox nobody forwarded: the sweep puts its name in the catalog');
ok(wait_for('its event', 10, sub {
    grep { ($_->{target}{tag} // '') eq 'left' }
    map { @{ decode_json($_->{body})->{events} } }
    grep { $_->{status} == 200 } $rx->requests
}), 'and its event is delivered');

# --- a resharding under pushers and pullers --------------------------------

my $stop = "$tmp/stop";

# $n processes push (or pull) in a loop until $stop exists, logging
# "<time> <status> <repository> <tag> <manifest digest>"
sub workers {
    my ($n, $log, $kind) = @_;
    my @pids;
    for my $p (1 .. $n) {
        my $pid = fork // die;
        if (!$pid) {
            open my $fh, '>', "$log.$p" or POSIX::_exit(1);
            $fh->autoflush(1);
            my $i = 0;
            while (!-e $stop) {
                my $repo = $repos[($p * 7 + $i) % @repos];
                if ($kind eq 'pull') {
                    my $r = $http->get($t->url("/v2/$repo/blobs/"
                        . sha256(qq({"repo":"$repo"}))));
                    printf $fh "%.3f %d %s\n", time, $r->{status}, $repo;
                } else {
                    my $tag = "$kind$p-" . $i;
                    my $cfg = qq({"tag":"$tag"});
                    my $m = manifest($cfg, undef, $tag);
                    my $r = push_blob($t, $repo, $cfg);
                    $r = put_manifest($t, $repo, $tag, $m)
                        if $r->{status} == 201;
                    printf $fh "%.3f %d %s %s %s\n", time, $r->{status},
                        $repo, $tag, sha256($m);
                }
                $i++;
            }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return @pids;
}

sub read_logs {
    my ($log) = @_;
    my @rows;
    for my $f (glob "$log.*") {
        open my $fh, '<', $f or die;
        while (<$fh>) {
            chomp;
            push @rows, [ split / / ];
        }
    }
    return @rows;
}

# redis-cli moves a master's lowest slots first: as many as it takes to
# move a repository's, leaving the master some (three masters must keep
# slots, or a failover later has no majority to vote)
my ($from, $moved, $count);
for my $m (@masters) {
    my ($first, $last) = $cluster->range_of($m);
    for my $repo (@repos) {
        my $slot = $cluster->slot_of("oci:{$repo}:tags");
        next unless $slot >= $first && $slot <= $last
                    && $slot - $first + 1 < $last - $first;
        ($from, $moved, $count) = ($m, $repo, $slot - $first + 1)
            if !defined $count || $slot - $first + 1 < $count;
    }
}
ok($from, "$moved moves with the first $count slots of its master");
my ($to) = grep { $_->port != $from->port } @masters;
my @kids = (workers(4, "$tmp/push", 'p'), workers(4, "$tmp/pull", 'pull'));
sleep 1;
my $out = $cluster->cli('--cluster', 'reshard', '127.0.0.1:' . $from->port,
                       '--cluster-from', $cluster->id_of($from),
                       '--cluster-to', $cluster->id_of($to),
                       '--cluster-slots', $count, '--cluster-yes');
is($?, 0, "redis-cli --cluster reshard moved $count slots") or diag($out);
sleep 1;
open my $touch, '>', $stop or die;
close $touch;
waitpid $_, 0 for @kids;
unlink $stop;

is($cluster->node_of_key("oci:{$moved}:tags")->port, $to->port,
   "$moved is served by the other master now");
my @pushed = read_logs("$tmp/push");
my @pulled = read_logs("$tmp/pull");
my @failed = grep { $_->[1] != 201 } @pushed;
cmp_ok(scalar @pushed, '>', 20, scalar(@pushed) . ' pushes during the resharding');
is(scalar @failed, 0, 'none failed') or diag(explain([ @failed[0 .. 4] ]));
@failed = grep { $_->[1] != 200 } @pulled;
cmp_ok(scalar @pulled, '>', 20, scalar(@pulled) . ' pulls during it');
is(scalar @failed, 0, 'none failed');
my $lost = 0;
for my $row (@pushed) {
    my (undef, $status, $repo, $tag, $d) = @$row;
    my $r = $http->get($t->url("/v2/$repo/manifests/$tag"));
    $lost++ unless $r->{status} == 200
        && $r->{headers}{'docker-content-digest'} eq $d;
}
is($lost, 0, 'every push made during the resharding reads back');
like(join("\n", grep { /slot \d+ moved/ } split /\n/, $t->error_log),
     qr/slot \d+ moved to/, 'the workers followed MOVED');
# ASK and TRYAGAIN come only when a command meets a key in the middle of
# its move: said, not required
my @log = split /\n/, $t->error_log;
note(sprintf('the workers followed %d MOVED, %d ASK and %d TRYAGAIN',
             scalar(grep { /slot \d+ moved to/ } @log),
             scalar(grep { /slot \d+ asked at/ } @log),
             scalar(grep { /cluster: TRYAGAIN/ } @log)));

# --- ASK: a slot in the middle of its move ---------------------------------

# a repository's keys moved by hand as redis-cli --cluster reshard moves
# them (SETSLOT IMPORTING and MIGRATING, MIGRATE), the slot not handed
# over yet: its old master answers ASK for every key that left, and the
# workers follow it to the new one (ASKING first)
my $arepo = 'cl/r5';
my $akey = "oci:{$arepo}:tags";
my $asrc = $cluster->node_of_key($akey);
my ($adst) = grep { $_->port != $asrc->port } $cluster->masters;
my $aslot = $cluster->slot_of($akey);
my ($src_id, $dst_id) = ($cluster->id_of($asrc), $cluster->id_of($adst));
$adst->cmd('CLUSTER', 'SETSLOT', $aslot, 'IMPORTING', $src_id);
$asrc->cmd('CLUSTER', 'SETSLOT', $aslot, 'MIGRATING', $dst_id);
my $akeys = $asrc->cmd('CLUSTER', 'GETKEYSINSLOT', $aslot, 10000);
ok(@$akeys > 5, scalar(@$akeys) . " keys of the slot of $arepo to move");
is($asrc->cmd('MIGRATE', '127.0.0.1', $adst->port, '', 0, 5000,
              'AUTH', 'cluster-secret', 'KEYS', @$akeys), 'OK',
   'MIGRATE moved them; the slot is still the old master\'s');
my $asked0 = () = $t->error_log =~ /slot \Q$aslot\E asked at/g;
my $ar = $http->get($t->url("/v2/$arepo/manifests/v1"));
is($ar->{status}, 200, "$arepo:v1 pulls in the middle of the move");
my $asked = () = $t->error_log =~ /slot \Q$aslot\E asked at/g;
cmp_ok($asked - $asked0, '>', 0,
       'the workers followed ASK (' . ($asked - $asked0) . ' times)');
# a script that makes keys meets TRYAGAIN on the new master until the
# slot is handed over: sent again every 50 ms, 503 after 16 redirects
my $acfg = '{"asked":1}';
my $ap = push_blob($t, $arepo, $acfg);
is($ap->{status}, 503, 'a push while the slot stays half moved: 503');
is(eval { decode_json($ap->{content})->{errors}[0]{code} }, 'UNAVAILABLE',
   '  with the OCI body');
like($t->error_log, qr/redis cluster: TRYAGAIN[^\n]*: sent again/,
     '  after TRYAGAIN, sent again');
# the slot handed over: MOVED from then on
$_->cmd('CLUSTER', 'SETSLOT', $aslot, 'NODE', $dst_id) for $adst, $asrc;
ok(wait_for('the slot map', 10, sub {
    $cluster->node_of_key($akey)->port == $adst->port }),
   "$arepo is served by the other master now");
is(push_blob($t, $arepo, $acfg)->{status}, 201, 'the push again: 201');
is(put_manifest($t, $arepo, 'asked', manifest($acfg, undef, 'asked'))
   ->{status}, 201, 'and a manifest');
is($http->get($t->url("/v2/$arepo/manifests/asked"))->{status}, 200,
   'which pulls');
is($http->get($t->url("/v2/$arepo/manifests/v1"))->{status}, 200,
   'and what was there before');

# --- kill -9 of a master ---------------------------------------------------

my $victim = $to;
my @kids2 = workers(6, "$tmp/acked", 'q');
sleep 1;
$victim->kill9;
my $killed = time;
note 'master killed';

ok(wait_for("a push to $moved after the failover", 30, sub {
    put_manifest($t, $moved, 'after',
                 manifest(qq({"repo":"$moved"}), "layer of $moved" x 100,
                          $moved))->{status} == 201
}), 'pushes to the killed master\'s slots succeed again, without a reload');
my $recovered = time - $killed;
sleep 1;
open $touch, '>', $stop or die;
close $touch;
waitpid $_, 0 for @kids2;
note(sprintf 'a push to the killed master\'s slots succeeded %.2f s after '
     . 'the kill (cluster-node-timeout 2 s)', $recovered);

my @acked = grep { $_->[1] == 201 } read_logs("$tmp/acked");
my $failed = grep { $_->[1] != 201 } read_logs("$tmp/acked");
cmp_ok(scalar @acked, '>', 20, scalar(@acked) . ' pushes acknowledged');
note("$failed pushes failed meanwhile (503: the clients retry)");
$lost = 0;
for my $row (@acked) {
    my (undef, $status, $repo, $tag, $d) = @$row;
    my $r = $http->get($t->url("/v2/$repo/manifests/$tag"));
    next if $r->{status} == 200 && $r->{headers}{'docker-content-digest'} eq $d;
    $lost++;
    diag("lost $repo:$tag: $r->{status}");
}
is($lost, 0, 'every push acknowledged with wait=1 survived the failover');
is($http->get($t->url('/v2/cl/r4/manifests/v1'))->{status}, 200,
   'and those from before');

# --- garbage collection: the records in the global slot -------------------

# (last: with no grace period a pass collects what the first part deleted,
# which the pullers above still read)

# a blob two repositories on different masters link; one of them links
# it three times (two pushes and a mount): its record, in the global
# slot, counts each repository once, and the collector keeps the file
# until neither links it
my $ga = 'gc/a';
my ($gb) = grep { $cluster->node_of_key("oci:{$_}:tags")->port
                  != $cluster->node_of_key("oci:{$ga}:tags")->port }
           map { "gc/b$_" } 1 .. 20;
my $shared = 'a blob two masters link ' x 2000;
my $ds = sha256($shared);
my $rk = "oci:{_}:blob:$ds";
my $rnode = $cluster->node_of_key($rk);
sub record { my %h = @{ $rnode->cmd('HGETALL', $rk) }; \%h }
sub blob_file { my $h = substr($_[0], 7);
                "$tmp/storage/blobs/sha256/" . substr($h, 0, 2) . "/$h" }
sub gc_status { decode_json($http->get($t->url('/v2/_gc'))->{content}) }
sub collect {
    my $before = gc_status()->{last};
    my $r = $http->request('POST', $t->url('/v2/_gc/run'));
    $r->{status} == 202 or die "POST /v2/_gc/run: $r->{status}";
    my $deadline = time + 60;
    while (time < $deadline) {
        my $s = eval { gc_status() };
        return $s->{last} if $s && $s->{last} && !$s->{running}
                             && !$s->{requested}
                             && (!$before || $s->{last}{id} > $before->{id});
        sleep 0.05;
    }
    die "no pass ended within 60 s";
}

is(push_blob($t, $ga, $shared)->{status}, 201, "$ga: the shared blob");
is(push_blob($t, $ga, $shared)->{status}, 201, "$ga: the same blob again");
my $gcfg = '{"gc":"b"}';
is(push_blob($t, $gb, $gcfg)->{status}, 201, "$gb (another master): a config");
is($http->request('POST', $t->url("/v2/$gb/blobs/uploads/?mount=$ds&from=$ga"))
   ->{status}, 201, "$gb: the shared blob mounted from $ga");
is(push_blob($t, $gb, $shared)->{status}, 201, "$gb: and pushed, though linked");
my $gm = manifest($gcfg, $shared, 'gc');
is(put_manifest($t, $gb, 'v1', $gm)->{status}, 201,
   "$gb: an image with it as its layer");
ok(wait_for('the record', 10, sub {
    my $h = record();
    keys %$h == 2 && ($h->{"oci:{$ga}:"} // 0) == 1
        && ($h->{"oci:{$gb}:"} // 0) == 1
}), 'the record counts one link of each repository') or diag(explain(record()));

is($http->request('DELETE', $t->url("/v2/$ga/blobs/$ds"))->{status}, 202,
   "$ga: its link deleted");
ok(wait_for('the record', 10, sub { !exists record()->{"oci:{$ga}:"} }),
   "the record lets go of $ga");
my $pass = collect();
ok(-f blob_file($ds), "a pass keeps the file ${gb}'s image references");
my $g = $http->get($t->url("/v2/$gb/blobs/$ds"));
ok($g->{status} == 200 && sha256($g->{content}) eq $ds, "$gb pulls it");

# the image goes: the collector unlinks its blobs, the record empties
is($http->request('DELETE', $t->url("/v2/$gb/manifests/" . sha256($gm)))
   ->{status}, 202, "$gb: the image deleted");
$pass = collect();
ok(!-e blob_file($ds), 'the next pass removes the file');
ok(!$rnode->cmd('EXISTS', $rk), 'and its record is gone');
ok($pass->{unlinkedBlobs} >= 2 && $pass->{removedFiles} >= 2,
   "its report: $pass->{unlinkedBlobs} links, $pass->{removedFiles} files");
is($http->request('HEAD', $t->url("/v2/$gb/blobs/$ds"))->{status}, 404,
   "$gb: the blob is gone");

# what the collector unlinks itself: a blob no manifest references
my $loose = 'no manifest references this ' x 500;
is(push_blob($t, $gb, $loose)->{status}, 201, "$gb: a loose blob");
$pass = collect();
ok(!-e blob_file(sha256($loose)), 'a pass unlinks it and removes its file');
is($http->request('HEAD', $t->url("/v2/$gb/blobs/" . sha256($loose)))
   ->{status}, 404,
   'its link is gone');
ok(!$cluster->node_of_key('oci:{_}:blob:' . sha256($loose))
        ->cmd('EXISTS', 'oci:{_}:blob:' . sha256($loose)),
   'and its record');

# the images of the first part are referenced: every one still pulls
my $intact = 0;
for my $repo (grep { $_ ne 'cl/r3' } @repos) {
    my $layer = "layer of $repo" x 100;
    my $lg = $http->get($t->url("/v2/$repo/blobs/" . sha256($layer)));
    $intact++ if $lg->{status} == 200 && $lg->{content} eq $layer;
}
is($intact, 11, 'the layers of the live images are intact after the passes');

my $r = $http->get($t->url('/v2/cl/r4/_gc/usage'));
is($r->{status}, 200, 'a repository\'s _gc/usage works');

is_deeply([ sort $t->worker_pids ], [ sort @workers ], 'no worker crashed');

$t->check_logs;

done_testing;
