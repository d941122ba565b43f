#!/usr/bin/env perl
# The durability floor of one small push on this disk: what committing a
# 1 KiB blob costs in system calls alone (create, write, fsync of the
# file, rename into place, fsync of the directory), the sequence the
# registry runs for every blob with oci_registry_durable on.  The create
# (an inode allocation) is done ahead by the worker's spare files for
# uploads that complete in one request; it is shown apart because on a
# file system with recent deletions it can be the largest step.
#   perl scripts/bench/fsync-floor.pl [DIR-ON-THE-STORAGE-DISK] [N]
use strict;
use warnings;
use Time::HiRes qw(time);
use IO::Handle;
use Fcntl;
use File::Temp qw(tempdir);

my $dir = tempdir('fsync-floor-XXXXXX', DIR => $ARGV[0] // '/var/tmp', CLEANUP => 1);
my $n = $ARGV[1] // 500;
mkdir "$dir/up" or die;
mkdir "$dir/blobs" or die;

my %t = map { $_ => 0 } qw(create write fsync_file rename fsync_dir);
for my $i (1 .. $n) {
    my $tc = time;
    sysopen(my $f, "$dir/up/$i", O_WRONLY | O_CREAT | O_EXCL) or die "$!";
    my $t0 = time;
    syswrite($f, 'x' x 1024) == 1024 or die "$!";
    my $t1 = time;
    $f->sync or die "fsync: $!";
    my $t2 = time;
    rename("$dir/up/$i", "$dir/blobs/$i") or die "$!";
    my $t3 = time;
    sysopen(my $d, "$dir/blobs", O_RDONLY) or die "$!";
    $d->sync or die "fsync dir: $!";
    my $t4 = time;
    $t{create} += $t0 - $tc;
    $t{write} += $t1 - $t0;
    $t{fsync_file} += $t2 - $t1;
    $t{rename} += $t3 - $t2;
    $t{fsync_dir} += $t4 - $t3;
}
my $sum = 0;
printf "%-10s %.3f ms (not counted below: done ahead)\n", 'create', 1000 * $t{create} / $n;
for my $k (qw(write fsync_file rename fsync_dir)) {
    printf "%-10s %.3f ms\n", $k, 1000 * $t{$k} / $n;
    $sum += $t{$k};
}
printf "total      %.3f ms per blob: at most %.0f durable small pushes/s\n",
       1000 * $sum / $n, $n / $sum;
