# Lifecycle policies: ECR's worked examples (AWS user guide, "Examples of
# lifecycle policies") through POST /v2/<name>/_lifecycle/preview, the
# two rules our users start with, ?at=, a repository's own policy (PUT,
# GET, DELETE /v2/<name>/_lifecycle/policy) as the one in force, index
# children and referrers.  Push times are days apart in the examples: the
# test pushes the images and then moves their push time back in Redis
# (the manifest's "pushed" and its entry in the repository's index), the
# one thing a test cannot wait for.  POST /v2/<name>/_lifecycle/run
# deletes what the preview shows, referrers with their subject.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_redis registry_config sha256 push_blob
                         put_manifest);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $redis = registry_redis();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
# the operator's policy for cfg/*: untagged images go after two days
open my $pf, '>', "$tmp/cfg.json" or die;
print $pf '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged",'
        . '"countType":"sinceImagePushed","countUnit":"days","countNumber":2},'
        . '"action":{"type":"expire"}}]}';
close $pf;
$t->write_config(registry_config(
    server_extra => 'location = /metrics { oci_registry_metrics; }',
    extra => "oci_registry_lifecycle_policy cfg/* $tmp/cfg.json;\n"
           . "oci_registry_events on;"));
$t->start;
my $http = $t->http;
my $now = time;
my $day = 86400;

my %digest;    # "repo/image" -> digest

# an image: its own config, its tags, pushed $age days ago
sub image {
    my ($repo, $name, $age, @tags) = @_;
    my $cfg = qq({"image":"$name"});
    push_blob($t, $repo, $cfg)->{status} == 201 or die "blob $name";
    my $m = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
        . sha256($cfg) . '","size":' . length($cfg) . '},"layers":[]}';
    my $d = sha256($m);
    for my $ref (@tags ? @tags : ($d)) {
        put_manifest($t, $repo, $ref, $m)->{status} == 201 or die "manifest $name";
    }
    my $at = int($now - $age * $day);
    $redis->cmd('HSET', "oci:{$repo}:m:$d", 'pushed', $at);
    $redis->cmd('ZADD', "oci:{$repo}:manifests", $at, $d);
    $digest{"$repo/$name"} = $d;
    return $d;
}

sub rule {
    my ($prio, %sel) = @_;
    return { rulePriority => $prio, description => "rule $prio",
             selection => \%sel, action => { type => 'expire' } };
}

sub preview {
    my ($repo, $policy, $query) = @_;
    return $http->request('POST',
        $t->url("/v2/$repo/_lifecycle/preview" . ($query // "?at=$now")),
        { content => defined $policy ? encode_json($policy) : '',
          headers => { 'Content-Type' => 'application/json' } });
}

# what the preview expires: { image name => rule priority }
sub expired {
    my ($repo, $policy, $query) = @_;
    my $r = preview($repo, $policy, $query);
    die "preview $repo: $r->{status} $r->{content}\n" unless $r->{status} == 200;
    my $j = decode_json($r->{content});
    my %name = map { $digest{$_} => (split m{/}, $_)[-1] }
               grep { m{^\Q$repo\E/} } keys %digest;
    is($j->{summary}{expiringImageTotalCount}, scalar @{ $j->{previewResults} },
       "$repo: the summary counts the results");
    return { map { ($name{ $_->{imageDigest} } // $_->{imageDigest})
                   => $_->{appliedRulePriority} } @{ $j->{previewResults} } };
}

# --- "Filtering on multiple rules", examples A and B ----------------------

image('ex/rules', 'A', 10, 'beta-1', 'prod-1');
image('ex/rules', 'B', 9, 'beta-2', 'prod-2');
image('ex/rules', 'C', 8, 'beta-3');

is_deeply(expired('ex/rules', { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['prod*'],
         countType => 'imageCountMoreThan', countNumber => 1),
    rule(2, tagStatus => 'tagged', tagPatternList => ['beta*'],
         countType => 'imageCountMoreThan', countNumber => 1) ] }),
    { A => 1 },
    'multiple rules, A: A expires; B is kept by the prod rule, which the beta rule may not overrule');

is_deeply(expired('ex/rules', { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['beta*'],
         countType => 'imageCountMoreThan', countNumber => 1),
    rule(2, tagStatus => 'tagged', tagPatternList => ['prod*'],
         countType => 'imageCountMoreThan', countNumber => 1) ] }),
    { A => 1, B => 1 },
    'multiple rules, B: the beta rule first expires A and B');

is_deeply(expired('ex/rules', { rules => [
    rule(1, tagStatus => 'tagged', tagPrefixList => ['prod'],
         countType => 'imageCountMoreThan', countNumber => 1),
    rule(2, tagStatus => 'tagged', tagPrefixList => ['beta'],
         countType => 'imageCountMoreThan', countNumber => 1) ] }),
    { A => 1 },
    'the same with tagPrefixList (the 2023 wording of the example)');

# --- "Filtering on multiple tags in a single rule", A and B --------------

image('ex/tags', 'A', 12, 'alpha-1');
image('ex/tags', 'B', 11, 'beta-1');
image('ex/tags', 'C', 10, 'alpha-2', 'beta-2');
image('ex/tags', 'D', 4, 'alpha-3');
image('ex/tags', 'E', 3, 'beta-3');
image('ex/tags', 'F', 2, 'alpha-4', 'beta-4');

is_deeply(expired('ex/tags', { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['alpha*', 'beta*'],
         countType => 'sinceImagePushed', countUnit => 'days', countNumber => 5) ] }),
    { C => 1 },
    'multiple tags, A: only images with both, older than five days');

image('ex/tags2', 'A', 10, 'alpha-1', 'beta-1', 'gamma-1');
image('ex/tags2', 'B', 9, 'alpha-2', 'beta-2');
image('ex/tags2', 'C', 8, 'alpha-3', 'beta-3', 'gamma-2');

is_deeply(expired('ex/tags2', { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['alpha*', 'beta*'],
         countType => 'imageCountMoreThan', countNumber => 1) ] }),
    { A => 1, B => 1 },
    'multiple tags, B: other tags do not matter');

# --- "Filtering on all images", A and B -----------------------------------

image('ex/all', 'A', 4, 'alpha-1');
image('ex/all', 'B', 3, 'beta-1');
image('ex/all', 'C', 2);
image('ex/all', 'D', 1, 'alpha-2');

is_deeply(expired('ex/all', { rules => [
    rule(1, tagStatus => 'any', countType => 'imageCountMoreThan',
         countNumber => 1) ] }),
    { A => 1, B => 1, C => 1 },
    'all images, A: any keeps the newest');

image('ex/all2', 'A', 4, 'alpha-1', 'beta-1');
image('ex/all2', 'B', 3);
image('ex/all2', 'C', 2, 'alpha-2');
image('ex/all2', 'D', 1.0001, 'git-hash');
image('ex/all2', 'E', 1);

is_deeply(expired('ex/all2', { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['alpha*'],
         countType => 'imageCountMoreThan', countNumber => 1),
    rule(2, tagStatus => 'untagged', countType => 'sinceImagePushed',
         countUnit => 'days', countNumber => 1),
    rule(3, tagStatus => 'any', countType => 'imageCountMoreThan',
         countNumber => 1) ] }),
    { A => 1, B => 2, D => 3 },
    'all images, B: each rule expires only what it owns, counting all it sees');

# --- our users' guide: keep ten v* images, untagged ones for a day ---------

image('ci/app', "v$_", 30 - $_, "v1.$_") for 1 .. 12;
image('ci/app', 'dev', 20, 'dev-latest');
image('ci/app', 'old-untagged', 2);
image('ci/app', 'new-untagged', 0.5);

my $guide = { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['v*'],
         countType => 'imageCountMoreThan', countNumber => 10),
    rule(2, tagStatus => 'untagged', countType => 'sinceImagePushed',
         countUnit => 'days', countNumber => 1) ] };
is_deeply(expired('ci/app', $guide),
          { v1 => 1, v2 => 1, 'old-untagged' => 2 },
          'the guide\'s two rules: the two oldest v* and the day-old untagged one');
is_deeply(expired('ci/app', $guide, '?at=' . ($now + 3 * $day)),
          { v1 => 1, v2 => 1, 'old-untagged' => 2, 'new-untagged' => 2 },
          '?at= three days later: the newer untagged one too');

# --- the repository's policy ------------------------------------------------

my $r = $http->get($t->url('/v2/ci/app/_lifecycle/policy'));
is($r->{status}, 404, 'no policy yet: 404');
is(eval { decode_json($r->{content})->{errors}[0]{code} }, 'POLICY_UNKNOWN',
   'POLICY_UNKNOWN');
is(preview('ci/app', undef)->{status}, 404, 'a preview without a policy in force: 404');

my $text = encode_json($guide);
$r = $http->request('PUT', $t->url('/v2/ci/app/_lifecycle/policy'),
    { content => $text, headers => { 'Content-Type' => 'application/json' } });
is($r->{status}, 201, 'PUT policy: 201');
$r = $http->get($t->url('/v2/ci/app/_lifecycle/policy'));
is($r->{status}, 200, 'GET policy: 200');
is($r->{content}, $text, 'the policy as it was put');
is_deeply(expired('ci/app', undef), { v1 => 1, v2 => 1, 'old-untagged' => 2 },
          'a preview without a body evaluates the policy in force');

$r = $http->request('PUT', $t->url('/v2/ci/app/_lifecycle/policy'),
    { content => '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged",'
                 . '"countType":"imageCountMoreThan","countNumber":1},'
                 . '"action":{"type":"expire"}}]}' });
is($r->{status}, 400, 'an invalid policy is refused');
like(eval { decode_json($r->{content})->{errors}[0]{detail} } // '',
     qr/rules\[0\]\.selection: tagStatus tagged needs tagPrefixList or tagPatternList/,
     'saying which rule and field');
is($http->get($t->url('/v2/ci/app/_lifecycle/policy'))->{content}, $text,
   'and the policy in force is kept');

# --- a run: the policy in force, what the preview said, deleted ---------

my $old = $digest{'ci/app/old-untagged'};
my $sig = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"artifactType":"application/vnd.example.sig","config":{"mediaType":'
    . '"application/vnd.oci.empty.v1+json","digest":"' . sha256('{}') . '","size":2},'
    . '"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"digest":"' . $old . '","size":1}}';
push_blob($t, 'ci/app', '{}');
is(put_manifest($t, 'ci/app', sha256($sig), $sig)->{status}, 201,
   'a signature of the old untagged image');

is($http->request('POST', $t->url('/v2/ci/app/_lifecycle/run'),
                  { content => '{"rules":[]}' })->{status},
   400, 'a run takes no policy of its own');

$r = $http->request('POST', $t->url('/v2/ci/app/_lifecycle/run'));
is($r->{status}, 200, 'POST run: 200');
my $run = eval { decode_json($r->{content}) } // {};
is_deeply([ sort map { $_->{imageDigest} } @{ $run->{expiredImages} // [] } ],
          [ sort map { $digest{"ci/app/$_"} } qw(v1 v2 old-untagged) ],
          'it expired what the preview showed');
is_deeply($run->{summary}, { expiredImageTotalCount => 3,
                             expiredReferrerTotalCount => 1,
                             changedImageTotalCount => 0,
                             remainingImageTotalCount => 0 },
          'with the referrer, nothing changed meanwhile, nothing left');
is($http->get($t->url('/v2/ci/app/manifests/v1.1'))->{status}, 404, 'v1.1 is gone');
is($http->get($t->url("/v2/ci/app/manifests/$old"))->{status}, 404,
   'the untagged one too');
is($http->get($t->url('/v2/ci/app/manifests/' . sha256($sig)))->{status}, 404,
   'and its signature with it');
is($http->get($t->url('/v2/ci/app/manifests/v1.3'))->{status}, 200, 'v1.3 stays');
my $tags = decode_json($http->get($t->url('/v2/ci/app/tags/list'))->{content})->{tags};
is_deeply([ sort @$tags ], [ sort('dev-latest', map { "v1.$_" } 3 .. 12) ],
          'the tags that remain');
my $v1 = $digest{'ci/app/v1'};
like($t->error_log, qr{lifecycle expired ci/app\@\Q$v1\E \(1 tags\) by rule 1},
     'each expiry is logged');
is_deeply(expired('ci/app', undef), {}, 'a preview after the run: nothing more');
my $metrics = $http->get($t->url('/metrics'))->{content};
like($metrics, qr/^oci_registry_lifecycle_expired_images_total\{trigger="run"\} 3$/m,
     'the metrics count the run\'s three images');
like($metrics, qr/^oci_registry_lifecycle_expired_referrers_total\{trigger="run"\} 1$/m,
     'and its referrer');

# each manifest the run deleted is a delete event, the referrer's too
my %deleted;
for my $e (@{ $redis->cmd('XRANGE', 'oci:events', '-', '+') }) {
    my %f = @{ $e->[1] };
    $deleted{ $f{d} } = 1 if $f{a} eq 'delete' && $f{r} eq 'ci/app';
}
is_deeply([ sort keys %deleted ],
          [ sort(sha256($sig), map { $digest{"ci/app/$_"} } qw(v1 v2 old-untagged)) ],
          'a delete event for each manifest the run deleted');

$r = $http->request('DELETE', $t->url('/v2/ci/app/_lifecycle/policy'));
is($r->{status}, 204, 'DELETE policy: 204');
is($http->get($t->url('/v2/ci/app/_lifecycle/policy'))->{status}, 404, 'gone');
is($http->request('DELETE', $t->url('/v2/ci/app/_lifecycle/policy'))->{status},
   404, 'DELETE again: 404');

# --- the operator's policy, and a repository's in its place ----------------

image('cfg/app', 'u3', 3);
image('cfg/app', 'u1', 1);
image('cfg/app', 'tagged', 5, 'stable');
$r = $http->get($t->url('/v2/cfg/app/_lifecycle/policy'));
is($r->{headers}{'oci-lifecycle-policy-source'}, 'configuration',
   'without a policy of its own, the operator\'s is in force');
is_deeply(expired('cfg/app', undef), { u3 => 1 },
          'and a preview without a body evaluates it');
$r = $http->request('PUT', $t->url('/v2/cfg/app/_lifecycle/policy'),
    { content => encode_json({ rules => [
        rule(1, tagStatus => 'any', countType => 'imageCountMoreThan',
             countNumber => 1) ] }) });
is($r->{status}, 201, 'the repository sets its own');
is($http->get($t->url('/v2/cfg/app/_lifecycle/policy'))->{headers}{'oci-lifecycle-policy-source'},
   'repository', 'which is in force now');
is_deeply(expired('cfg/app', undef), { u3 => 1, tagged => 1 },
          'and replaces the operator\'s');
is($http->request('DELETE', $t->url('/v2/cfg/app/_lifecycle/policy'))->{status},
   204, 'deleted');
is_deeply(expired('cfg/app', undef), { u3 => 1 }, 'the operator\'s again');

# --- an index's children and referrers ------------------------------------

my $child = image('multi/app', 'child', 5);
my $cfgs = $http->get($t->url("/v2/multi/app/manifests/$child"))->{content};
my $index = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
    . '"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"'
    . $child . '","size":' . length($cfgs) . ',"platform":{"architecture":"amd64","os":"linux"}}]}';
is(put_manifest($t, 'multi/app', 'latest', $index,
                'application/vnd.oci.image.index.v1+json')->{status}, 201, 'an index');
$sig = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"artifactType":"application/vnd.example.sig","config":{"mediaType":'
    . '"application/vnd.oci.empty.v1+json","digest":"' . sha256('{}') . '","size":2},'
    . '"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"digest":"' . $child . '","size":' . length($cfgs) . '}}';
push_blob($t, 'multi/app', '{}');
is(put_manifest($t, 'multi/app', sha256($sig), $sig)->{status}, 201, 'a referrer of the child');
$redis->cmd('HSET', "oci:{multi/app}:m:" . sha256($sig), 'pushed', $now - 5 * $day);
is_deeply(expired('multi/app', { rules => [
    rule(1, tagStatus => 'untagged', countType => 'sinceImagePushed',
         countUnit => 'days', countNumber => 1) ] }),
    {},
    'an untagged child of an index is not expired, nor is a referrer on its own');

# --- manifests pushed before the index existed ------------------------------

$redis->cmd('DEL', 'oci:{ex/rules}:manifests', 'oci:{ex/rules}:manifests:indexed');
is_deeply(expired('ex/rules', { rules => [
    rule(1, tagStatus => 'tagged', tagPatternList => ['beta*'],
         countType => 'imageCountMoreThan', countNumber => 1) ] }),
    { A => 1, B => 1 },
    'tagged manifests without an index entry are found by their tags');

done_testing();
