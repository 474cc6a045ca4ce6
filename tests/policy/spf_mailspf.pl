#!/usr/bin/perl
# SPF results from Mail::SPF (Debian libmail-spf-perl), asking only the test DNS server.
#
#   /usr/bin/perl spf_mailspf.pl PORT < checks
#
# Each input line is "IP<TAB>SENDER<TAB>HELO"; each output line is
# "IP<TAB>RESULT<TAB>WHY" (RESULT is Mail::SPF's result code: pass, fail,
# softfail, neutral, none, permerror, temperror). DNS goes to 127.0.0.1:PORT
# over UDP, TCP on truncation; never to the system resolver.
use strict;
use warnings;

use Mail::SPF;
use Net::DNS::Resolver;

my $port = shift @ARGV or die "usage: $0 PORT < checks\n";
my $resolver = Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'],
    port        => $port,
    recurse     => 0,
    retry       => 2,
    retrans     => 1,
    udp_timeout => 5,
    tcp_timeout => 5,
    defnames    => 0,
    dnsrch      => 0,
    searchlist  => [],
);
my $server = Mail::SPF::Server->new(dns_resolver => $resolver);

$| = 1;
while (my $line = <STDIN>) {
    chomp $line;
    next if $line eq '';
    my ($ip, $sender, $helo) = split /\t/, $line;
    my $request = Mail::SPF::Request->new(
        versions      => [1],
        scope         => 'mfrom',
        identity      => $sender,
        ip_address    => $ip,
        helo_identity => $helo,
    );
    my $result = $server->process($request);
    my $why = $result->local_explanation // '';
    $why =~ s/[\t\n]/ /g;
    print join("\t", $ip, $result->code, $why), "\n";
}
