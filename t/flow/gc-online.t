# Garbage collection while the registry works, and after a crash.
#
# 1. Eight clients push images (a layer of their own, one that all share,
#    across two repositories), delete some, and pull what they pushed,
#    while passes run back to back with no grace period.  No pull of a
#    live image fails; a manifest push may be refused with
#    MANIFEST_BLOB_UNKNOWN (a blob collected between its upload and the
#    manifest) and succeeds after uploading again.  Afterwards every live
#    image pulls byte-identical and the files of the deleted ones are
#    gone.
# 2. nginx is killed with -9 in the middle of a pass over 20 000
#    unreferenced blobs (2 000 pushed ones on a Redis Cluster); the restarted registry takes the dead collector's
#    lease, finishes the pass, and every one of them is gone, with no
#    trash file left and the live images intact.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Find ();
use Time::HiRes qw(sleep time);
use POSIX ();
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $redis = OciTest::Redis->start;
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(registry_config(workers => 2,
    # no grace and no pace: as many passes as can be, to race the clients
    extra => "oci_registry_gc_grace 0s;\noci_registry_gc_pace 0;\n"
           . "oci_registry_delete on;"));
$t->start;
my $http = $t->http;

sub blob_file { my $h = substr($_[0], 7);
                "$tmp/storage/blobs/sha256/" . substr($h, 0, 2) . "/$h" }

sub manifest {
    my ($cfg, @layers) = @_;
    my $l = join ',', map { '{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
        . '"digest":"' . sha256($_) . '","size":' . length($_) . '}' } @layers;
    return '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
        . sha256($cfg) . '","size":' . length($cfg) . '},"layers":[' . $l . ']}';
}

sub status { decode_json($http->get($t->url('/v2/_gc'))->{content}) }

# asks for a pass; waits until a pass that started after the request ended
sub collect {
    my $before = status()->{last};
    $http->request('POST', $t->url('/v2/_gc/run'))->{status} == 202 or die;
    my $deadline = time + 120;
    while (time < $deadline) {
        my $s = eval { status() };
        return $s->{last} if $s && $s->{last} && !$s->{running}
                             && !$s->{requested}
                             && (!$before || $s->{last}{id} > $before->{id});
        sleep 0.05;
    }
    die "no pass ended within 120 s";
}

# --- 1: eight clients during collection ----------------------------------

my $shared = 'S' x 40_000;
my $log = "$tmp/clients.log";
my $stop_at = time + 8;
my @kids;
for my $w (1 .. 8) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $h = $t->http;
        open my $out, '>>', "$log.$w" or die;
        select((select($out), $| = 1)[0]);
        my $repo = 'live/r' . ($w % 2);
        my (@mine, $k);
        while (time < $stop_at) {
            $k++;
            my $cfg = qq({"w":$w,"k":$k});
            my $own = "U$w-$k-" x 500;
            my $m = manifest($cfg, $own, $shared);
            my $ok = 0;
            for my $try (1 .. 20) {
                my @st = map { push_blob($t, $repo, $_)->{status} }
                         $cfg, $own, $shared;
                # 503: collected as it was linked; a client retries
                if (grep { $_ == 503 } @st) { print $out "RETRY503\n"; next }
                if (grep { $_ != 201 } @st) {
                    print $out "FAIL blob push $repo @st\n";
                    last;
                }
                my $r = put_manifest($t, $repo, "w$w-$k", $m);
                if ($r->{status} == 201) { $ok = 1; last }
                if ($r->{status} == 400
                    && $r->{content} =~ /MANIFEST_BLOB_UNKNOWN/) {
                    print $out "RETRY\n";
                    next;
                }
                print $out "FAIL manifest $r->{status} $r->{content}\n";
                last;
            }
            next unless $ok;
            my $d = sha256($m);
            push @mine, [$repo, $d, $cfg, $own];
            print $out "PUSHED $repo $d ", sha256($cfg), ' ', sha256($own), "\n";
            # pull an earlier image of ours, every blob of it
            my $p = $mine[int rand @mine];
            my $g = $h->get($t->url("/v2/$p->[0]/manifests/$p->[1]"));
            print $out "FAIL pull manifest $g->{status}\n" unless $g->{status} == 200;
            for my $b ($p->[2], $p->[3], $shared) {
                $g = $h->get($t->url("/v2/$p->[0]/blobs/" . sha256($b)));
                print $out "FAIL pull blob $g->{status}\n"
                    unless $g->{status} == 200 && $g->{content} eq $b;
            }
            # every third image is deleted again
            if ($k % 3 == 0) {
                my $x = shift @mine;
                my $r = $h->request('DELETE', $t->url("/v2/$x->[0]/manifests/$x->[1]"));
                if ($r->{status} == 202) {
                    print $out "DELETED $x->[0] $x->[1]\n";
                } else {
                    print $out "FAIL delete $r->{status}\n";
                }
            }
        }
        close $out;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

my $passes = 0;
while (grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids) {
    collect();
    $passes++;
}
waitpid($_, 0) for @kids;
ok $passes >= 3, "$passes passes ran while the clients worked";

my (%live, %deleted, @fail, $retries, $retries503, $pushes);
for my $w (1 .. 8) {
    open my $in, '<', "$log.$w" or next;
    while (<$in>) {
        if (/^PUSHED (\S+) (\S+) (\S+) (\S+)/) { $live{"$1 $2"} = [$3, $4]; $pushes++ }
        elsif (/^DELETED (\S+) (\S+)/) { $deleted{"$1 $2"} = delete $live{"$1 $2"} }
        elsif (/^RETRY503/) { $retries503++ }
        elsif (/^RETRY/) { $retries++ }
        elsif (/^FAIL (.*)/) { push @fail, $1 }
    }
}
is_deeply \@fail, [], 'no failed pull, push or delete while passes ran'
    or diag explain [@fail[0 .. ($#fail < 9 ? $#fail : 9)]];
ok $pushes >= 16, "the clients pushed ($pushes images)";
note "manifest pushes refused with MANIFEST_BLOB_UNKNOWN and retried: "
    . ($retries // 0) . "; blob pushes answered 503 and retried: "
    . ($retries503 // 0);

collect();
my $bad = 0;
for my $key (keys %live) {
    my ($repo, $d) = split / /, $key;
    $bad++ unless $http->get($t->url("/v2/$repo/manifests/$d"))->{status} == 200;
    for my $b ($live{$key}[0], $live{$key}[1], sha256($shared)) {
        my $g = $http->get($t->url("/v2/$repo/blobs/$b"));
        $bad++ unless $g->{status} == 200 && sha256($g->{content}) eq $b;
    }
}
is $bad, 0, scalar(keys %live) . ' live images pull byte-identical after the passes';
my $left = grep { -e blob_file($_->[1]) } values %deleted;
is $left, 0, scalar(keys %deleted) . ' deleted images: their own layers are gone';

# --- 2: kill -9 in the middle of a pass -----------------------------------

# On one Redis the links are made as BLOB_LINK makes them, 20 000 in a
# few scripts; on a cluster (OCI_TEST_CLUSTER) the records live in
# another slot than the links, so 2 000 are pushed instead.
my $cluster = $ENV{OCI_TEST_CLUSTER};
my $n = $cluster ? 2_000 : 20_000;
my %junk;
for my $r (0 .. 19) {
    my $base = "oci:{junk/$r}:";
    my @args;
    for my $i (1 .. $n / 20) {
        my $bytes = "junk $r $i";
        my $d = sha256($bytes);
        $junk{$d} = 1;
        if ($cluster) {
            push_blob($t, "junk/$r", $bytes)->{status} == 201
                or die "push of junk/$r $i failed";
            next;
        }
        my $f = blob_file($d);
        mkdir $f =~ s{/[^/]+$}{}r;
        open my $fh, '>', $f or die "$f: $!"; print $fh $bytes; close $fh;
        push @args, $d, length $bytes;
    }
    next if $cluster;
    # links as an upload makes them (BLOB_LINK: the record, the unref
    # entry), in one step
    $redis->cmd('EVAL',
        "for i = 1, #ARGV, 2 do
           redis.call('HSET', KEYS[1] .. 'blobs', ARGV[i], ARGV[i + 1])
           redis.call('SADD', 'oci:blob:' .. ARGV[i], KEYS[1])
           redis.call('ZADD', KEYS[1] .. 'unref', 0, ARGV[i])
         end
         redis.call('ZADD', 'oci:gc:repos', 0, KEYS[1])
         return 1", 1, $base, @args);
}
is scalar(grep { -e blob_file($_) } keys %junk), $n, "$n unreferenced blobs seeded";

my $id0 = status()->{last}{id};
$http->request('POST', $t->url('/v2/_gc/run'))->{status} == 202 or die;
my ($killed, $seen);
my $deadline = time + 60;
while (time < $deadline) {
    my $s = eval { status() } or next;
    if ($s->{running} && ($s->{running}{unlinkedBlobs} // 0) > 0) {
        $seen = $s->{running};
        my @pids = $t->kill9;
        # the workers die after the master: their sockets go with them
        my $gone = time + 5;
        sleep 0.02 while time < $gone && grep { kill 0, $_ } @pids;
        $killed = 1;
        last;
    }
    sleep 0.01;
}
ok $killed, "nginx killed -9 during the pass ($seen->{phase}, "
    . "$seen->{unlinkedBlobs} links unlinked so far)";
$t->start;
my $deadline2 = time + 120;
my $last;
while (time < $deadline2) {
    my $s = eval { status() };
    if ($s && !$s->{running} && $s->{last} && $s->{last}{id} > $id0) {
        $last = $s->{last};
        last;
    }
    sleep 0.1;
}
ok $last, 'the pass that was killed finished after the restart';
like $t->error_log, qr/garbage collection: taking the lease of "[^"]+:gc", which is gone/,
    "the restarted registry took the dead collector's lease";
my $still = grep { -e blob_file($_) } keys %junk;
is $still, 0, 'every unreferenced blob file is gone';
# the links a repository has, by its usage (404: none at all)
my $links = 0;
for my $r (0 .. 19) {
    my $u = $http->get($t->url("/v2/junk/$r/_gc/usage"));
    $links += $u->{status} == 404 ? 0 : decode_json($u->{content})->{blobs};
}
is $links, 0, 'and every link of them';
my @trash;
File::Find::find(sub { push @trash, $_ if /\.gc$/ }, "$tmp/storage/blobs");
is_deeply \@trash, [], 'no trash file is left';
$bad = 0;
for my $key (keys %live) {
    my ($repo, $d) = split / /, $key;
    for my $b ($live{$key}[0], $live{$key}[1], sha256($shared)) {
        my $g = $http->get($t->url("/v2/$repo/blobs/$b"));
        $bad++ unless $g->{status} == 200 && sha256($g->{content}) eq $b;
    }
}
is $bad, 0, 'the live images are intact';

$t->stop;
$t->check_logs;
done_testing;
