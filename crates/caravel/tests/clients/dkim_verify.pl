#!/usr/bin/perl
# Verifies every DKIM-Signature of a message with Mail::DKIM (an
# independent implementation), asking the DNS server on loopback.
# usage: perl dkim_verify.pl MESSAGE_FILE DNS_PORT
# Prints "<d> <s> <result>" per signature; exits 1 unless all pass.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;

my ($path, $port) = @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port, recurse => 1));
my $dkim = Mail::DKIM::Verifier->new();
open(my $fh, '<', $path) or die "open $path: $!";
binmode $fh;
local $/;
my $message = <$fh>;
$dkim->PRINT($message);
$dkim->CLOSE();
my @signatures = $dkim->signatures;
my $ok = @signatures > 0;
for my $s (@signatures) {
    print $s->domain, " ", $s->selector, " ", $s->result, "\n";
    $ok = 0 unless $s->result eq 'pass';
}
exit($ok ? 0 : 1);
